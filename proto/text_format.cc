#include "proto/text_format.h"

#include <google/protobuf/text_format.h>

namespace iak::proto {

void FirstTextFormatError::AddError(int line, google::protobuf::io::ColumnNumber column,
                                    const std::string& message) {
  if (has_error_) return;
  has_error_ = true;
  line_ = line + 1;
  column_ = column + 1;
  message_ = message;
}

std::string FirstTextFormatError::Located() const {
  if (!has_error_) return "";
  return std::to_string(line_) + ":" + std::to_string(column_) + ": " + message_;
}

bool ParseTextFormat(const std::string& text, google::protobuf::Message* message,
                     FirstTextFormatError* error) {
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(error);
  return parser.ParseFromString(text, message);
}

}  // namespace iak::proto
