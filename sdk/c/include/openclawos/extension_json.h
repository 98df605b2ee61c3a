/* Minimal JSON helpers for extensions written in C (header-only, C99 and C++ compatible).
 *
 * Callbacks receive JSON text and answer JSON text. These two helpers cover the common case without
 * a JSON library: read one top-level string field of an object, and quote a string for output.
 * Anything richer (numbers, nested objects) deserves a real JSON parser in your extension.
 * Both functions are pure and thread-safe; results are malloc'd and freed by the caller with free().
 */
#ifndef OPENCLAWOS_EXTENSION_JSON_H_
#define OPENCLAWOS_EXTENSION_JSON_H_

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline const char* oc_ext_json_skip_ws_(const char* p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') ++p;
  return p;
}

static inline int oc_ext_json_hex4_(const char* p, unsigned* out) {
  unsigned v = 0;
  int i;
  for (i = 0; i < 4; ++i) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return 0;
  }
  *out = v;
  return 1;
}

static inline size_t oc_ext_json_put_utf8_(unsigned cp, char* out) {
  if (cp < 0x80) { out[0] = (char)cp; return 1; }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Decodes the JSON string starting at the opening quote *p. On success returns a malloc'd UTF-8
 * string (NULL on malformed input) and sets *end just past the closing quote. A decoded string is
 * never longer than its escaped form, so one allocation of that size suffices. */
static inline char* oc_ext_json_decode_string_(const char* p, const char** end) {
  const char* q = p + 1;
  char* out;
  size_t n = 0;
  while (*q && *q != '"') q += (*q == '\\' && q[1]) ? 2 : 1;
  if (*q != '"') return NULL;
  out = (char*)malloc((size_t)(q - p) + 1);
  if (!out) return NULL;
  for (q = p + 1; *q != '"'; ++q) {
    unsigned cp, low;
    if ((unsigned char)*q < 0x20) break;  /* raw control characters are not allowed */
    if (*q != '\\') { out[n++] = *q; continue; }
    ++q;
    switch (*q) {
      case '"': out[n++] = '"'; break;
      case '\\': out[n++] = '\\'; break;
      case '/': out[n++] = '/'; break;
      case 'b': out[n++] = '\b'; break;
      case 'f': out[n++] = '\f'; break;
      case 'n': out[n++] = '\n'; break;
      case 'r': out[n++] = '\r'; break;
      case 't': out[n++] = '\t'; break;
      case 'u':
        if (!oc_ext_json_hex4_(q + 1, &cp)) goto fail;
        q += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) { /* a surrogate pair: \uD83D\uDE00 */
          if (q[1] != '\\' || q[2] != 'u' || !oc_ext_json_hex4_(q + 3, &low) || low < 0xDC00 ||
              low > 0xDFFF)
            goto fail;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          q += 6;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          goto fail;
        }
        n += oc_ext_json_put_utf8_(cp, out + n);
        break;
      default: goto fail;
    }
  }
  if (*q != '"') goto fail;
  out[n] = '\0';
  *end = q + 1;
  return out;
fail:
  free(out);
  return NULL;
}

/* Skips one JSON value starting at p (after whitespace); returns the position after it, NULL when
 * malformed. Nested values are skipped by depth counting, strings respected. */
static inline const char* oc_ext_json_skip_value_(const char* p) {
  int depth = 0;
  do {
    p = oc_ext_json_skip_ws_(p);
    if (*p == '"') {
      ++p;
      while (*p && *p != '"') p += (*p == '\\' && p[1]) ? 2 : 1;
      if (*p != '"') return NULL;
      ++p;
    } else if (*p == '{' || *p == '[') {
      ++depth;
      ++p;
    } else if (*p == '}' || *p == ']') {
      if (depth == 0) return NULL;
      --depth;
      ++p;
    } else if (*p == ',' || *p == ':') {
      if (depth == 0) return NULL;
      ++p;
    } else if (*p) {
      const char* start = p;
      while (*p && strchr(" \t\r\n,:{}[]\"", *p) == NULL) ++p;
      if (p == start) return NULL;
    } else {
      return NULL;
    }
  } while (depth > 0);
  return p;
}

/* The value of the top-level field `key` of the JSON object `json`, when it is a string: a malloc'd
 * UTF-8 copy (escapes decoded; free() it). NULL when `json` is not an object, the field is absent or
 * not a string, or the text is malformed up to that field. */
static inline char* oc_ext_json_get_string(const char* json, const char* key) {
  const char* p;
  if (!json || !key) return NULL;
  p = oc_ext_json_skip_ws_(json);
  if (*p != '{') return NULL;
  p = oc_ext_json_skip_ws_(p + 1);
  if (*p == '}') return NULL;
  for (;;) {
    const char* after;
    char* name;
    int match;
    if (*p != '"') return NULL;
    name = oc_ext_json_decode_string_(p, &after);
    if (!name) return NULL;
    match = strcmp(name, key) == 0;
    free(name);
    p = oc_ext_json_skip_ws_(after);
    if (*p != ':') return NULL;
    p = oc_ext_json_skip_ws_(p + 1);
    if (match) return *p == '"' ? oc_ext_json_decode_string_(p, &after) : NULL;
    p = oc_ext_json_skip_value_(p);
    if (!p) return NULL;
    p = oc_ext_json_skip_ws_(p);
    if (*p != ',') return NULL;
    p = oc_ext_json_skip_ws_(p + 1);
  }
}

/* `text` as a JSON string literal, quotes included ("a\"b" for a"b): a malloc'd copy (free() it);
 * NULL only when out of memory. Control characters are escaped; other bytes pass through. */
static inline char* oc_ext_json_quote(const char* text) {
  static const char hex[] = "0123456789abcdef";
  const char* s;
  size_t n = 2;
  char* out;
  char* w;
  if (!text) text = "";
  for (s = text; *s; ++s) {
    unsigned char c = (unsigned char)*s;
    n += (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t') ? 2 : (c < 0x20 ? 6 : 1);
  }
  out = (char*)malloc(n + 1);
  if (!out) return NULL;
  w = out;
  *w++ = '"';
  for (s = text; *s; ++s) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { *w++ = '\\'; *w++ = (char)c; }
    else if (c == '\n') { *w++ = '\\'; *w++ = 'n'; }
    else if (c == '\r') { *w++ = '\\'; *w++ = 'r'; }
    else if (c == '\t') { *w++ = '\\'; *w++ = 't'; }
    else if (c < 0x20) {
      *w++ = '\\'; *w++ = 'u'; *w++ = '0'; *w++ = '0';
      *w++ = hex[c >> 4]; *w++ = hex[c & 0xF];
    } else {
      *w++ = (char)c;
    }
  }
  *w++ = '"';
  *w = '\0';
  return out;
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* OPENCLAWOS_EXTENSION_JSON_H_ */
