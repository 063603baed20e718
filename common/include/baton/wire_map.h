// BATON_DEFINE_MAP: MSGPACK_DEFINE_MAP with a decoder that does not allocate.
//
// msgpack-cxx decodes a MSGPACK_DEFINE_MAP struct by first copying every key
// of the map into a std::map<std::string, ...>: a dozen allocations per
// history event, the largest part of a worker's CPU in `make bench`'s chain
// (perf). This decoder looks each field's key up in the map object as it is
// instead. Same wire format and the same meaning: a map is required and
// every key must be a string (else msgpack::type_error), unknown keys are
// ignored, a missing field keeps its value, and of duplicate keys the first
// counts. Encoding is msgpack-cxx's own.
//
// BATON_DEFINE_SPARSE_MAP: the same decoder, and an encoder that leaves out
// every field equal to the same field of a default-constructed struct, which
// a decoder then keeps at that default: the wire format's own rule (a missing
// field keeps its default), so any BATON_DEFINE_MAP decoder reads it. For the
// structs sent and stored by the thousand (history events, actions), most of
// whose fields are empty for any one event type: a chain step's history row
// was ~75 % field names and defaults. Only for structs whose defaults are
// constants (every field comparable with ==).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <msgpack.hpp>

namespace baton::wire_detail {

template <typename... Args>
struct FastDefineMap : msgpack::type::define_map<Args...> {
  using Base = msgpack::type::define_map<Args...>;
  explicit FastDefineMap(Args&... args) : Base(args...) {}

  // Packs the fields that differ from the same fields of `defaults`.
  template <typename Packer>
  void msgpack_pack_sparse(Packer& pk, const FastDefineMap& defaults) const {
    pack_differing(pk, defaults, std::make_index_sequence<sizeof...(Args) / 2>{});
  }

  void msgpack_unpack(const msgpack::object& o) const {
    if (o.type != msgpack::type::MAP) throw msgpack::type_error();
    const msgpack::object_kv* kv = o.via.map.ptr;
    const uint32_t n = o.via.map.size;
    for (uint32_t i = 0; i < n; ++i) {
      if (kv[i].key.type != msgpack::type::STR) throw msgpack::type_error();
    }
    unpack_fields(kv, n, std::make_index_sequence<sizeof...(Args) / 2>{});
  }

 private:
  template <std::size_t I>
  bool differs(const FastDefineMap& defaults) const {
    return !(std::get<2 * I + 1>(this->a) == std::get<2 * I + 1>(defaults.a));
  }

  // Each field is compared once: the map's size comes first on the wire.
  template <typename Packer, std::size_t... I>
  void pack_differing(Packer& pk, const FastDefineMap& defaults, std::index_sequence<I...>) const {
    const bool differing[] = {differs<I>(defaults)...};
    uint32_t n = 0;
    for (bool d : differing) n += d ? 1 : 0;
    pk.pack_map(n);
    (pack_if(pk, differing[I], std::get<2 * I>(this->a), std::get<2 * I + 1>(this->a)), ...);
  }

  template <typename Packer, typename K, typename V>
  static void pack_if(Packer& pk, bool differs, const K& key, const V& value) {
    if (!differs) return;
    pk.pack(key);
    pk.pack(value);
  }

  template <std::size_t... I>
  void unpack_fields(const msgpack::object_kv* kv, uint32_t n, std::index_sequence<I...>) const {
    (unpack_field(kv, n, std::get<2 * I>(this->a), std::get<2 * I + 1>(this->a)), ...);
  }

  template <typename V>
  static void unpack_field(const msgpack::object_kv* kv, uint32_t n, std::string_view name, V& v) {
    for (uint32_t i = 0; i < n; ++i) {
      if (std::string_view(kv[i].key.via.str.ptr, kv[i].key.via.str.size) == name) {
        msgpack::v1::type::convert_helper(kv[i].val, v);
        return;
      }
    }
  }
};

template <typename... Args>
FastDefineMap<Args...> make_fast_define_map(Args&... args) {
  return FastDefineMap<Args...>(args...);
}

}  // namespace baton::wire_detail

// What both macros define: the struct's fields as a FastDefineMap, the
// decoder and the conversion to a msgpack object.
#define BATON_DEFINE_MAP_COMMON_(...)                                                     \
  auto baton_fields_() const {                                                            \
    return ::baton::wire_detail::make_fast_define_map MSGPACK_DEFINE_MAP_IMPL(__VA_ARGS__); \
  }                                                                                       \
  void msgpack_unpack(msgpack::object const& msgpack_o) {                                 \
    ::baton::wire_detail::make_fast_define_map MSGPACK_DEFINE_MAP_IMPL(__VA_ARGS__)       \
        .msgpack_unpack(msgpack_o);                                                       \
  }                                                                                       \
  template <typename MSGPACK_OBJECT>                                                      \
  void msgpack_object(MSGPACK_OBJECT* msgpack_o, msgpack::zone& msgpack_z) const {        \
    baton_fields_().msgpack_object(msgpack_o, msgpack_z);                                 \
  }

#define BATON_DEFINE_MAP(...)                                                             \
  BATON_DEFINE_MAP_COMMON_(__VA_ARGS__)                                                   \
  template <typename Packer>                                                              \
  void msgpack_pack(Packer& msgpack_pk) const {                                           \
    baton_fields_().msgpack_pack(msgpack_pk);                                             \
  }

#define BATON_DEFINE_SPARSE_MAP(...)                                                      \
  BATON_DEFINE_MAP_COMMON_(__VA_ARGS__)                                                   \
  template <typename Packer>                                                              \
  void msgpack_pack(Packer& msgpack_pk) const {                                           \
    static const std::remove_cv_t<std::remove_reference_t<decltype(*this)>> defaults{};   \
    baton_fields_().msgpack_pack_sparse(msgpack_pk, defaults.baton_fields_());            \
  }
