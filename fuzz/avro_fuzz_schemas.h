#pragma once
// The built-in Avro schemas of the Avro fuzz targets (avro_fuzz.cc, avro_batch_fuzz.cc): the
// e-shop event and a record with every type. An input's first byte picks one.

#include <cstddef>
#include <memory>
#include <string_view>

#include "io/avro/avro.h"

namespace tideline::fuzz {

inline constexpr std::string_view kAvroSchemas[] = {
    R"({"type":"record","name":"EshopEvent","namespace":"tideline","fields":[
  {"name":"year","type":["null","int"]},{"name":"month","type":["null","int"]},
  {"name":"day","type":["null","int"]},{"name":"order_seq","type":["null","int"]},
  {"name":"country","type":["null","int"]},{"name":"session","type":["null","int"]},
  {"name":"category","type":["null","int"]},{"name":"model","type":["null","string"]},
  {"name":"color","type":["null","int"]},{"name":"location","type":["null","int"]},
  {"name":"photography","type":["null","int"]},{"name":"price","type":["null","int"]},
  {"name":"price_ind","type":["null","int"]},{"name":"page","type":["null","int"]},
  {"name":"event_time","type":["null",{"type":"long","logicalType":"timestamp-millis"}]},
  {"name":"so_key","type":["null","long"]}]})",
    R"({"type":"record","name":"All","fields":[
  {"name":"n","type":"null"},{"name":"b","type":"boolean"},{"name":"i","type":"int"},
  {"name":"l","type":"long"},{"name":"f","type":"float"},{"name":"d","type":"double"},
  {"name":"s","type":"string"},{"name":"y","type":"bytes"},
  {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}},
  {"name":"x","type":{"type":"fixed","name":"F","size":3}},
  {"name":"us","type":{"type":"long","logicalType":"timestamp-micros"}},
  {"name":"o","type":["string","null"]},
  {"name":"r","type":["null",{"type":"record","name":"Sub","fields":[
      {"name":"a","type":"int"},{"name":"e","type":["null","E"]}]}]},
  {"name":"r2","type":"Sub"}]})",
};

// The codec of kAvroSchemas[i], made once.
inline const std::shared_ptr<const avro::Codec>& builtin_codec(size_t i) {
  static const std::shared_ptr<const avro::Codec> codecs[] = {
      avro::Codec::make(kAvroSchemas[0]).value(), avro::Codec::make(kAvroSchemas[1]).value()};
  return codecs[i];
}

}  // namespace tideline::fuzz
