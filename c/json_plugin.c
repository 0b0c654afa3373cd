/*
 * libk8saudit-ovh-json.so: a drop-in for the upstream `json` plugin (API 3.0.0,
 * extraction only, every event source), on the C++ core of cpp/json_plugin/. No Python:
 * this library runs on a host without it.
 */
#include <stdlib.h>
#include <string.h>

#include "cpu_check.h"
#include "json_core.h"
#include "k8a_json_static.h" /* generated at build time: K8A_JSON_VERSION */
#include "plugin_abi.h"

/* Built with -fvisibility=hidden: only the plugin API is exported. */
#define PLUGIN_API __attribute__((visibility("default")))

/* upstream's field list, in its order (the field_id of cpp/json_plugin/json_fields.hpp) */
#define POINTER_ARG "\"arg\":{\"isRequired\":true,\"isKey\":true}"
static const char fields_json[] =
	"["
	"{\"name\":\"json.value\",\"type\":\"string\"," POINTER_ARG ",\"desc\":\"Extracts a value from a "
	"JSON-encoded input. Syntax is json.value[<json pointer>], where <json pointer> is a json pointer "
	"(see https://datatracker.ietf.org/doc/html/rfc6901)\"},"
	"{\"name\":\"json.obj\",\"type\":\"string\",\"desc\":\"The full json message as a text string.\"},"
	"{\"name\":\"json.rawtime\",\"type\":\"string\",\"desc\":\"The time of the event, identical to evt.rawtime.\"},"
	"{\"name\":\"jevt.value\",\"type\":\"string\"," POINTER_ARG ",\"desc\":\"Alias for json.value, provided "
	"for backwards compatibility.\"},"
	"{\"name\":\"jevt.obj\",\"type\":\"string\",\"desc\":\"Alias for json.obj, provided for backwards "
	"compatibility.\"},"
	"{\"name\":\"jevt.rawtime\",\"type\":\"string\",\"desc\":\"Alias for json.rawtime, provided for backwards "
	"compatibility.\"}"
	"]";

/* upstream's config, accepted as it does (useAsync only tunes its Go runtime: ignored here) */
static const char init_schema_json[] =
	"{\"type\":\"object\",\"additionalProperties\":true,\"properties\":{\"useAsync\":{\"type\":\"boolean\","
	"\"description\":\"Accepted for compatibility with the upstream json plugin; no effect here "
	"(extraction is native and synchronous)\"}}}";

/* What the host holds: the core, or only the reason it could not be made. */
typedef struct json_state {
	k8a_json_core* core;
	char error[K8A_PLUGIN_MAX_ERRLEN];
} json_state;

PLUGIN_API const char* plugin_get_required_api_version(void) { return "3.0.0"; }
PLUGIN_API const char* plugin_get_name(void) { return "json"; }
PLUGIN_API const char* plugin_get_version(void) { return K8A_JSON_VERSION; }
PLUGIN_API const char* plugin_get_description(void) {
	return "Extracts values from JSON event payloads: a native drop-in for the json plugin, "
	       "with the same fields and values (from k8saudit-ovh)";
}
PLUGIN_API const char* plugin_get_contact(void) { return "github.com/k8saudit-ovh/k8saudit-ovh"; }
PLUGIN_API const char* plugin_get_fields(void) { return fields_json; }
/* Empty: every event source, as upstream. */
PLUGIN_API const char* plugin_get_extract_event_sources(void) { return "[]"; }

PLUGIN_API const char* plugin_get_init_schema(ss_plugin_schema_type* schema_type) {
	*schema_type = SS_PLUGIN_SCHEMA_JSON;
	return init_schema_json;
}

PLUGIN_API ss_plugin_t* plugin_init(const ss_plugin_init_input* in, ss_plugin_rc* rc) {
	(void)in;
	json_state* s = calloc(1, sizeof(*s));
	*rc = SS_PLUGIN_FAILURE;
	if (!s) return NULL;
	if (k8a_cpu_supported(s->error, sizeof(s->error)) != 0) return s;
	s->core = k8a_json_core_new();
	if (!s->core) {
		strcpy(s->error, "json: out of memory");
		return s;
	}
	*rc = SS_PLUGIN_SUCCESS;
	return s;
}

PLUGIN_API void plugin_destroy(ss_plugin_t* st) {
	json_state* s = st;
	if (!s) return;
	k8a_json_core_free(s->core);
	free(s);
}

PLUGIN_API const char* plugin_get_last_error(ss_plugin_t* st) {
	json_state* s = st;
	if (!s) return "json: no plugin state";
	return s->core ? k8a_json_core_last_error(s->core) : s->error;
}

PLUGIN_API ss_plugin_rc plugin_extract_fields(ss_plugin_t* st, const ss_plugin_event_input* evt,
                                              const ss_plugin_field_extract_input* in) {
	json_state* s = st;
	if (!s || !s->core) return SS_PLUGIN_FAILURE;
	return k8a_json_core_extract(s->core, evt, in);
}
