#include "config/yaml_util.h"

namespace sockstate {

Status LoadYaml(const std::string& text, const std::string& source_name, YAML::Node* root) {
  try {
    *root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    std::string where = source_name;
    if (!e.mark.is_null()) {
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    }
    return Status::Error(where + ": YAML syntax error: " + e.msg);
  }
  return Status::Ok();
}

}  // namespace sockstate
