/* OpenClawOS in-process extension ABI (SPEC §10). Plain C: C99 and C++ compatible.
 *
 * A `skill` or `extension` package is a shared library (manifest `main`) that exports ONE symbol,
 * `openclawos_extension`, a function returning a pointer to a static oc_extension descriptor. The
 * kernel:
 *   1. dlopen()s the library and calls openclawos_extension();
 *   2. checks the descriptor's abi_version BEFORE touching anything else: a library built for another
 *      ABI is refused ("built for extension ABI 2, this kernel speaks 1") and none of its code runs
 *      except the entry point itself (and static initialisers, which dlopen runs: keep them trivial);
 *   3. calls init(api) once: init registers its tools, hooks, gateway methods and auth providers
 *      through `api`, and returns 0. Each registration must be declared in the manifest and granted
 *      (tools.provides, gateway.methods, hooks.subscribes / hooks.intercepts); a refused
 *      registration returns non-zero AND makes the whole load fail, even if init returns 0 (the
 *      kernel then calls shutdown and unloads the library);
 *   4. later calls the registered callbacks from worker threads;
 *   5. at unload calls shutdown() once (after the last callback has returned), then dlclose()s.
 *
 * Only packages whose effective trust is `core` or `verified` are loaded: in-process code is not
 * isolated. A callback that crashes, corrupts memory or calls exit() takes the whole kernel with it.
 *
 * Threading:
 *   - init and shutdown run on the kernel's thread; init must not block for long.
 *   - Callbacks run on a pool of worker threads, possibly several at once (also the same callback):
 *     guard shared state. They may block (file or network I/O); the kernel's event loop never waits
 *     for them. A callback that takes longer than the kernel's call timeout is abandoned by its caller
 *     (a tool gets a timeout result, a method a TIMEOUT error, an interceptor counts as having timed
 *     out); its answer, when it finally returns, is dropped. It still occupies a worker until then.
 *   - api->log may be called from any thread between init and the return of shutdown.
 *
 * Strings: every `const char*` is NUL-terminated UTF-8, owned by the caller and valid only during the
 * call: copy what you keep. The `oc_output*` handed to a callback is valid only until it returns.
 *
 * Compatibility: abi_version is the first field of both structs and stays there in every version.
 * struct_size lets a later minor revision append fields without changing the ABI version: read a
 * field only if struct_size covers it. Fields are never reordered or removed within one ABI version.
 */
#ifndef OPENCLAWOS_EXTENSION_H_
#define OPENCLAWOS_EXTENSION_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes. A kernel loads only libraries whose descriptor carries its own. */
#define OPENCLAWOS_EXTENSION_ABI_VERSION 1u

/* The name of the one exported entry point (for dlsym). */
#define OPENCLAWOS_EXTENSION_ENTRY_SYMBOL "openclawos_extension"

/* Marks the entry point exported even when the library is built with -fvisibility=hidden. */
#if defined(__GNUC__) || defined(__clang__)
#define OPENCLAWOS_EXTENSION_EXPORT __attribute__((visibility("default")))
#else
#define OPENCLAWOS_EXTENSION_EXPORT
#endif

/* Return codes of the register_* functions. */
#define OC_EXT_OK 0
#define OC_EXT_DENIED 1   /* not declared in the manifest / not granted to this package */
#define OC_EXT_INVALID 2  /* bad argument: empty name, NULL callback, unknown hook, bad schema JSON */
#define OC_EXT_CONFLICT 3 /* the name is already registered (by this or another package) */
#define OC_EXT_STATE 4    /* called outside init: registration is only possible during init */

/* Levels for api->log. */
#define OC_EXT_LOG_DEBUG 0
#define OC_EXT_LOG_INFO 1
#define OC_EXT_LOG_WARN 2
#define OC_EXT_LOG_ERROR 3

/* Opaque: where a callback writes its answer, through api->set_result. */
typedef struct oc_output oc_output;

/* Every callback has this shape: `user` is the pointer given at registration, `input_json` the JSON
 * text described at each register_* function, `out` where to answer. The return value is described
 * at each register_* function (in short: 0 = success). */
typedef int (*oc_ext_callback)(void* user, const char* input_json, oc_output* out);

/* The kernel's side of the ABI, passed to init. Valid until shutdown returns: keep the pointer. */
typedef struct oc_host_api {
  uint32_t abi_version; /* OPENCLAWOS_EXTENSION_ABI_VERSION of the kernel */
  uint32_t struct_size; /* sizeof(oc_host_api) as the kernel knows it */
  void* host;           /* pass back as the first argument of the functions below that take it */
  const char* package_id;  /* the manifest id, e.g. "extension-hello" */
  const char* package_dir; /* absolute path of the package directory (for data files) */

  /* An agent tool. `input_schema_json`: a JSON Schema object for the tool's input (NULL or "" =
   * {"type":"object"}). invoke gets the tool input (a JSON object) and answers with set_result: the
   * text the model sees (plain text or JSON), is_error marking a failed call. A non-zero return
   * without is_error also marks the call failed. Needs the name in capabilities.tools.provides. */
  int (*register_tool)(void* host, const char* name, const char* description,
                       const char* input_schema_json, oc_ext_callback invoke, void* user);

  /* A hook handler (SPEC §6); `hook` may be an alias. intercept = 0: a subscriber (needs
   * hooks.subscribes); on_event's answer and return value are ignored. intercept = 1: an interceptor
   * (needs hooks.intercepts); it answers with set_result in the hook.result forms as JSON:
   * {"action":"continue"} | {"action":"modify","data":{...}} | {"action":"block","reason":"..."}
   * (a bare object = modify, null = block). No answer, an is_error answer, or invalid JSON counts
   * as continue. event_json is {eventId, hookName, data, context, intercept?}. */
  int (*register_hook)(void* host, const char* hook, int intercept, oc_ext_callback on_event,
                       void* user);

  /* A control-plane (gateway) method; the name starts with "<package short name>." and must be in
   * gateway.methods. call gets the params (JSON, usually an object) and answers with set_result:
   * the result as JSON text (no answer = null). is_error: the text is the error message, or a JSON
   * object {"code":"INVALID_PARAMS","message":"..."} with a protocol error code. A non-zero return
   * without an answer is an INTERNAL_ERROR. */
  int (*register_method)(void* host, const char* method, oc_ext_callback call, void* user);

  /* An authentication provider. check gets the credential itself (raw text, not JSON) and answers
   * {"ok":true,"subject":"..."} or {"ok":false} (JSON). The manifest has no section for these; the
   * name must be unique among loaded packages. */
  int (*register_auth_provider)(void* host, const char* name, oc_ext_callback check, void* user);

  /* Writes the callback's answer (copied). Call it at most once per callback: a later call replaces
   * the earlier answer. text NULL = "". */
  void (*set_result)(oc_output* out, const char* text, int is_error);

  /* Writes a line to the kernel log, tagged with the package id. level: OC_EXT_LOG_*. */
  void (*log)(void* host, int level, const char* message);
} oc_host_api;

/* The library's descriptor: a static object, valid as long as the library is loaded. */
typedef struct oc_extension {
  uint32_t abi_version; /* OPENCLAWOS_EXTENSION_ABI_VERSION the library was built for */
  uint32_t struct_size; /* sizeof(oc_extension) */
  const char* name;     /* a human-readable name for logs; may be NULL */
  /* Registers everything; 0 = ok. Non-zero: the load fails and shutdown is NOT called, so undo
   * whatever init allocated before returning the error. Required. */
  int (*init)(const oc_host_api* api);
  /* Releases what init set up. Called once, after the last callback returned. May be NULL. */
  void (*shutdown)(void);
} oc_extension;

/* The entry point every extension library defines (declared here so a definition that does not
 * match it is a compile error):
 *
 *   OPENCLAWOS_EXTENSION_EXPORT const oc_extension* openclawos_extension(void) {
 *     static const oc_extension ext = {OPENCLAWOS_EXTENSION_ABI_VERSION, sizeof(oc_extension),
 *                                      "my-extension", my_init, my_shutdown};
 *     return &ext;
 *   }
 */
OPENCLAWOS_EXTENSION_EXPORT const oc_extension* openclawos_extension(void);
typedef const oc_extension* (*oc_extension_entry)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* OPENCLAWOS_EXTENSION_H_ */
