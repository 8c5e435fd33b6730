#include "io/embedded/embedded.h"
namespace tideline::embedded {
Result<std::unique_ptr<io::TopicService>> open_topic_service(const std::string& data_dir) {
  return error(StatusCode::kUnimplemented, "todo");
}
}  // namespace tideline::embedded
