#include "json_core.h"

#include <new>

#include "json_fields.hpp"

struct k8a_json_core {
	k8a::JsonFields fields;
};

extern "C" {

k8a_json_core* k8a_json_core_new(void) { return new (std::nothrow) k8a_json_core(); }

void k8a_json_core_free(k8a_json_core* core) { delete core; }

ss_plugin_rc k8a_json_core_extract(k8a_json_core* core, const ss_plugin_event_input* evt,
                                   const ss_plugin_field_extract_input* in) {
	return core->fields.extract(evt, in);
}

const char* k8a_json_core_last_error(const k8a_json_core* core) { return core->fields.last_error(); }

}
