#pragma once
// YAML loading shared by the config and web config parsers.

#include <yaml-cpp/yaml.h>

#include <string>

#include "util/status.h"

namespace sockstate {

/// Parses `text` into `root`. A syntax error is "<source>:<line>:<column>: YAML syntax error:
/// <what>" (1-based). Never throws. Thread-safe.
Status LoadYaml(const std::string& text, const std::string& source_name, YAML::Node* root);

}  // namespace sockstate
