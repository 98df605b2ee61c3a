/* extension-hello: an in-process extension (SPEC §10) in plain C on the extension ABI.
 *   gateway method extension-hello.greet {name?} → {greeting, eventsSeen}
 *   a subscription to message_received that counts events (eventsSeen).
 * Callbacks run on several worker threads at once: the counter is atomic. */
#include <openclawos/extension.h>
#include <openclawos/extension_json.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const oc_host_api* g_api;
static atomic_long g_events_seen;

static int on_message_received(void* user, const char* event_json, oc_output* out) {
  (void)user, (void)event_json, (void)out;
  atomic_fetch_add(&g_events_seen, 1);
  return 0;
}

static int greet(void* user, const char* params_json, oc_output* out) {
  char* name = oc_ext_json_get_string(params_json, "name");
  char* greeting;
  char* quoted;
  char* answer;
  size_t size;
  (void)user;
  size = strlen(name ? name : "world") + sizeof "Hello, !";
  greeting = (char*)malloc(size);
  if (!greeting) {
    free(name);
    return 1; /* no answer + non-zero: an INTERNAL_ERROR */
  }
  snprintf(greeting, size, "Hello, %s!", name ? name : "world");
  free(name);
  quoted = oc_ext_json_quote(greeting);
  free(greeting);
  if (!quoted) return 1;
  size = strlen(quoted) + 64;
  answer = (char*)malloc(size);
  if (!answer) {
    free(quoted);
    return 1;
  }
  snprintf(answer, size, "{\"greeting\":%s,\"eventsSeen\":%ld}", quoted, atomic_load(&g_events_seen));
  free(quoted);
  g_api->set_result(out, answer, 0);
  free(answer);
  return 0;
}

static int hello_init(const oc_host_api* api) {
  if (api->struct_size < sizeof(oc_host_api)) return 1; /* a kernel older than this header */
  g_api = api;
  atomic_store(&g_events_seen, 0);
  if (api->register_method(api->host, "extension-hello.greet", greet, NULL) != OC_EXT_OK) return 1;
  if (api->register_hook(api->host, "message_received", 0, on_message_received, NULL) != OC_EXT_OK) return 1;
  api->log(api->host, OC_EXT_LOG_INFO, "extension-hello ready");
  return 0;
}

static void hello_shutdown(void) { g_api = NULL; }

OPENCLAWOS_EXTENSION_EXPORT const oc_extension* openclawos_extension(void) {
  static const oc_extension ext = {OPENCLAWOS_EXTENSION_ABI_VERSION, sizeof(oc_extension), "Hello extension",
                                   hello_init, hello_shutdown};
  return &ext;
}
