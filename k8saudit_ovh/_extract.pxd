# Declarations of the C++ extraction engine (cpp/plugin/extractor.hpp), for cimport by other
# modules (e.g. _plugin.pyx).
from libc.stdint cimport uint16_t, uint32_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.string cimport string
from libcpp.vector cimport vector


from k8saudit_ovh.includes.abi cimport *
from k8saudit_ovh.includes.core cimport EventBatch


cdef extern from "extractor.hpp" namespace "k8a" nogil:
    cdef cppclass Op:
        pass

    cbool op_from_name(const string& name, Op* op) noexcept

    cdef cppclass FieldOp:
        Op op
        cbool is_list
        cbool requires_key
        vector[string] path
        vector[string] args

    cdef cppclass Extractor:
        Extractor(vector[FieldOp] table) except +
        ss_plugin_rc extract(const ss_plugin_event_input* evt,
                             const ss_plugin_field_extract_input* inp) noexcept
        const char* last_error() noexcept
        void use_batch(const EventBatch* batch) noexcept


# A new Extractor for the table of fields.py (field_id = position in fields_json()).
cdef Extractor* new_extractor() except NULL
# Frees it in the module that made it (each module links its own C++ runtime).
cdef void free_extractor(Extractor* extractor) noexcept
