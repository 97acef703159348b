// Reading a message from protobuf text format (job specs, data schemas,
// model manifests: files people write or edit) with the position of the
// first error, so that every reader can name the line and column at fault.
#ifndef IAK_PROTO_TEXT_FORMAT_H_
#define IAK_PROTO_TEXT_FORMAT_H_

#include <string>

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/message.h>

namespace iak::proto {

// Keeps the first error a parse reports; line and column are 1-based.
class FirstTextFormatError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override;

  bool has_error() const { return has_error_; }
  int line() const { return line_; }
  int column() const { return column_; }
  const std::string& message() const { return message_; }
  // "LINE:COLUMN: message", or "" when no error was reported.
  std::string Located() const;

 private:
  bool has_error_ = false;
  int line_ = 0;
  int column_ = 0;
  std::string message_;
};

// Parses `text` into `message`; false on a syntax or field error, the first
// one in *error.
bool ParseTextFormat(const std::string& text, google::protobuf::Message* message,
                     FirstTextFormatError* error);

}  // namespace iak::proto

#endif  // IAK_PROTO_TEXT_FORMAT_H_
