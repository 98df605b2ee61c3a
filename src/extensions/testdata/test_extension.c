/* Test-only extension libraries for extension_host_test.cpp, one source built three ways:
 *   OC_TEST_TESTKIT    a full extension: tools, methods, an auth provider, interceptors, a subscriber
 *                      (behaviour keyed on the package id: "...-initfail" makes init fail);
 *   OC_TEST_WRONG_ABI  a descriptor built for ABI 2;
 *   OC_TEST_NO_ENTRY   a library without the entry point.
 * Test counters are exported as testkit_stats() so the test can watch init/shutdown. */
#define _POSIX_C_SOURCE 200809L
#include <openclawos/extension.h>
#include <openclawos/extension_json.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(OC_TEST_TESTKIT)
#include <stdatomic.h>

typedef struct testkit_stats_t {
  atomic_int init_calls;
  atomic_int shutdown_calls;
  atomic_int hook_events;
} testkit_stats_t;

static testkit_stats_t stats;
static const oc_host_api* api;

OPENCLAWOS_EXTENSION_EXPORT testkit_stats_t* testkit_stats(void) { return &stats; }

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* {"ms": N} → sleeps N ms. */
static int sleepy(void* user, const char* input, oc_output* out) {
  const char* p = strstr(input, "\"ms\":");
  long ms = p ? strtol(p + 5, NULL, 10) : 0;
  char text[64];
  (void)user;
  sleep_ms(ms);
  snprintf(text, sizeof text, "slept %ld ms", ms);
  api->set_result(out, text, 0);
  return 0;
}

static int fail_tool(void* user, const char* input, oc_output* out) {
  (void)user, (void)input, (void)out;
  return 3;
}

static int echo(void* user, const char* input, oc_output* out) {
  (void)user;
  api->set_result(out, input, 0);
  return 0;
}

static int register_late(void* user, const char* input, oc_output* out) {
  char text[32];
  int rc = api->register_tool(api->host, "late_tool", "", NULL, echo, NULL);
  (void)user, (void)input;
  snprintf(text, sizeof text, "rc=%d", rc);
  api->set_result(out, text, 0);
  return 0;
}

static int method_fail(void* user, const char* input, oc_output* out) {
  (void)user, (void)input;
  api->set_result(out, "{\"code\":\"INVALID_PARAMS\",\"message\":\"bad thing\"}", 1);
  return 0;
}

static int method_garbage(void* user, const char* input, oc_output* out) {
  (void)user, (void)input;
  api->set_result(out, "this is not json", 0);
  return 0;
}

static int auth_check(void* user, const char* credential, oc_output* out) {
  (void)user;
  api->set_result(
      out, strcmp(credential, "letmein") == 0 ? "{\"ok\":true,\"subject\":\"tester\"}" : "{\"ok\":false}", 0);
  return 0;
}

static int on_message_sending(void* user, const char* event, oc_output* out) {
  (void)user, (void)event;
  api->set_result(out, "{\"action\":\"modify\",\"data\":{\"content\":\"intercepted\"}}", 0);
  return 0;
}

static int on_before_tool_call(void* user, const char* event, oc_output* out) {
  (void)user;
  if (strstr(event, "\"toolName\":\"slow\"")) sleep_ms(1000);
  if (strstr(event, "\"toolName\":\"banned\""))
    api->set_result(out, "{\"action\":\"block\",\"reason\":\"banned by testkit\"}", 0);
  return 0; /* no answer = continue */
}

static int on_agent_end(void* user, const char* event, oc_output* out) {
  (void)user, (void)event, (void)out;
  atomic_fetch_add(&stats.hook_events, 1);
  return 1; /* a subscriber's return value is ignored */
}

static int ends_with(const char* s, const char* suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int testkit_init(const oc_host_api* host_api) {
  api = host_api;
  atomic_fetch_add(&stats.init_calls, 1);
  api->log(api->host, OC_EXT_LOG_INFO, "testkit init");
  if (ends_with(api->package_id, "-initfail")) return 7; /* before registering anything */
  /* Return codes are deliberately ignored: the host fails the load on a refusal anyway. */
  api->register_tool(api->host, "sleepy", "Sleeps",
                     "{\"type\":\"object\",\"properties\":{\"ms\":{\"type\":\"integer\"}}}", sleepy, NULL);
  api->register_tool(api->host, "fail_tool", "Fails", NULL, fail_tool, NULL);
  api->register_tool(api->host, "echo_tool", "Echoes its input", "", echo, NULL);
  api->register_tool(api->host, "register_late", "Registers after init", NULL, register_late, NULL);
  api->register_method(api->host, "testkit.echo", echo, NULL);
  api->register_method(api->host, "testkit.fail", method_fail, NULL);
  api->register_method(api->host, "testkit.garbage", method_garbage, NULL);
  api->register_auth_provider(api->host, "testkit-auth", auth_check, NULL);
  api->register_hook(api->host, "message_sending", 1, on_message_sending, NULL);
  api->register_hook(api->host, "tool_executing", 1, on_before_tool_call, NULL);
  api->register_hook(api->host, "agent_completed", 0, on_agent_end, NULL);
  return 0;
}

static void testkit_shutdown(void) { atomic_fetch_add(&stats.shutdown_calls, 1); }

OPENCLAWOS_EXTENSION_EXPORT const oc_extension* openclawos_extension(void) {
  static const oc_extension ext = {OPENCLAWOS_EXTENSION_ABI_VERSION, sizeof(oc_extension), "testkit",
                                   testkit_init, testkit_shutdown};
  return &ext;
}

#elif defined(OC_TEST_WRONG_ABI)

static int never_called(const oc_host_api* api) {
  (void)api;
  abort(); /* the kernel must refuse the ABI before calling init */
}

OPENCLAWOS_EXTENSION_EXPORT const oc_extension* openclawos_extension(void) {
  static const oc_extension ext = {2u, sizeof(oc_extension), "from the future", never_called, NULL};
  return &ext;
}

#elif defined(OC_TEST_NO_ENTRY)

OPENCLAWOS_EXTENSION_EXPORT int not_an_extension(void) { return 42; }

#else
#error "define one of OC_TEST_TESTKIT, OC_TEST_WRONG_ABI, OC_TEST_NO_ENTRY"
#endif
