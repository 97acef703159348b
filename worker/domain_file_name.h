// The file names of a domain's results. Domain names come from users' data
// (a domain column's values, the rules of a schema, genres) and may hold any
// character but a tab or a line break (data/line_parser.h refuses those), so
// "us/east" or "../x" must not become a path: a domain's files are named by
// DomainFileStem(domain) + ".iak" / ".rows" / ".dense".
#ifndef IAK_WORKER_DOMAIN_FILE_NAME_H_
#define IAK_WORKER_DOMAIN_FILE_NAME_H_

#include <string>
#include <vector>

namespace iak::worker {

// Every byte a Linux file name can hold stays as it is (so "2004-2007",
// "shared:a+b" and "Sci-Fi" name their files as before); '/', control
// characters and a leading '.' are written %XX (upper-case hex):
// "us/east" -> "us%2Feast", ".." -> "%2E.". One-to-one: '%' is escaped too.
std::string DomainFileStem(const std::string& domain);

// The domain a stem names (DomainFileStem reversed); a stem that is not one
// (a stray '%' not followed by two hex digits) comes back unchanged.
std::string DomainOfFileStem(const std::string& stem);

// The domains that have a file `<dir>/<stem><extension>` (".iak", ".dense"),
// by name (DomainOfFileStem), sorted; none when `dir` is missing.
std::vector<std::string> DomainsWithFiles(const std::string& dir, const std::string& extension);

}  // namespace iak::worker

#endif  // IAK_WORKER_DOMAIN_FILE_NAME_H_
