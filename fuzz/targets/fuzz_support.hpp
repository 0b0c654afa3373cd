// What the C++ fuzz targets share: plugin events laid out exactly as the host hands them
// (no byte after the payload, so ASan sees any read past it) and one extraction of every
// field of the field table, in each argument form, as Falco's rules would ask for them.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "event_batch.hpp"
#include "extractor.hpp"

namespace k8a_fuzz {

// One entry of k8saudit_ovh/fields.py, as fuzz/run.py writes it to fields.inc.
struct FieldSpec {
    const char* name;
    const char* op;
    bool is_list;
    bool arg_index;     // takes an optional index argument
    bool arg_required;  // takes a required key argument
    std::vector<std::string> path, args;
};

inline const std::vector<FieldSpec>& field_specs() {
    static const std::vector<FieldSpec> specs = {
#include "fields.inc"
    };
    return specs;
}

inline k8a::Extractor* new_extractor() {
    std::vector<k8a::FieldOp> table;
    for (const FieldSpec& s : field_specs()) {
        k8a::FieldOp op;
        if (!k8a::op_from_name(s.op, &op.op)) abort();  // the table and the extractor disagree
        op.is_list = s.is_list;
        op.requires_key = s.arg_required;
        op.path = s.path;
        op.args = s.args;
        table.push_back(op);
    }
    return new k8a::Extractor(table);
}

// A heap copy of exactly `size` bytes: reading past the input is an ASan report.
inline std::unique_ptr<char[]> exact_copy(const uint8_t* data, size_t size) {
    std::unique_ptr<char[]> copy(new char[size ? size : 1]);
    if (size) memcpy(copy.get(), data, size);
    return copy;
}

// A plugin event (type 322) holding `payload`, in a buffer of exactly its size.
class ExactEvent {
public:
    explicit ExactEvent(std::string_view payload, uint64_t evtnum)
        : buf_(new uint8_t[K8A_EVENT_PAYLOAD_OFFSET + payload.size()]) {
        k8a::encode_plugin_event(buf_.get(), payload, UINT64_MAX, 22);
        input_.evt = reinterpret_cast<ss_plugin_event*>(buf_.get());
        input_.evtnum = evtnum;
        input_.evtsrc = "k8s_audit";
    }
    const ss_plugin_event_input* input() const { return &input_; }

private:
    std::unique_ptr<uint8_t[]> buf_;
    ss_plugin_event_input input_{};
};

// Argument forms: index fields with none, small and huge indexes (UINT64_MAX is what
// libs pass for "no index"); key fields with keys that real rules and URIs use.
inline const uint64_t kIndexes[] = {0, 1, 2, 63, uint64_t(1) << 31, uint64_t(1) << 63, UINT64_MAX};
inline const char* const kKeys[] = {"",     "watch", "fieldSelector", "labelSelector", "/",     "/etc",
                                    "/var/run/docker.sock", "/proc/", "a=b",           "%zz", "\xff", "k"};

// Every request, in table order: one extract() call for all of them, then each again in
// reverse order one call each (the extractor's cache and fastjson's lazy state differ).
class EveryField {
public:
    EveryField() {
        const auto& specs = field_specs();
        for (uint32_t id = 0; id < specs.size(); id++) {
            const FieldSpec& s = specs[id];
            if (!s.arg_required) add(id, s, false, UINT64_MAX, nullptr);
            if (s.arg_index)
                for (uint64_t i : kIndexes) add(id, s, true, i, nullptr);
            if (s.arg_required)
                for (const char* k : kKeys) add(id, s, true, UINT64_MAX, k);
        }
    }

    void extract(k8a::Extractor& ex, const ss_plugin_event_input* evt) {
        ss_plugin_field_extract_input in{};
        in.num_fields = uint32_t(fields_.size());
        in.fields = fields_.data();
        if (ex.extract(evt, &in) == SS_PLUGIN_SUCCESS) check(fields_.data(), fields_.size());
        for (size_t i = fields_.size(); i-- > 0;) {
            in.num_fields = 1;
            in.fields = &fields_[i];
            if (ex.extract(evt, &in) == SS_PLUGIN_SUCCESS) check(&fields_[i], 1);
        }
    }

private:
    void add(uint32_t id, const FieldSpec& s, bool present, uint64_t index, const char* key) {
        ss_plugin_extract_field f{};
        f.field_id = id;
        f.field = s.name;
        f.arg_key = key;
        f.arg_index = index;
        f.arg_present = present;
        f.ftype = K8A_FIELD_TYPE_STRING;
        f.flist = s.is_list;
        fields_.push_back(f);
    }

    // Every value is a readable NUL-terminated string (ASan checks the reads); a non-list
    // field has at most one.
    static void check(const ss_plugin_extract_field* f, size_t n) {
        for (size_t i = 0; i < n; i++) {
            if (!f[i].flist && f[i].res_len > 1) abort();
            for (uint64_t k = 0; k < f[i].res_len; k++)
                if (strlen(f[i].res.str[k]) > (size_t(1) << 31)) abort();
        }
    }

    std::vector<ss_plugin_extract_field> fields_;
};

}  // namespace k8a_fuzz
