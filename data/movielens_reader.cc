#include "data/movielens_reader.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "common/keys.h"
#include "data/csv_line.h"
#include "data/utc_time.h"

namespace iak::data {
namespace {

using movielens::kGenresField;
using movielens::kHourField;
using movielens::kMovieField;
using movielens::kNumFields;
using movielens::kUnknownYear;
using movielens::kUserField;
using movielens::kWeekdayField;
using movielens::kYearField;

constexpr std::string_view kMoviesHeader = "movieId,title,genres";
constexpr std::string_view kRatingsHeader = "userId,movieId,rating,timestamp";
constexpr std::string_view kNoGenres = "(no genres listed)";
constexpr double kMinRating = 0.5;
constexpr double kMaxRating = 5.0;

// Per-movie keys, computed once so the ratings loop only copies them.
struct Movie {
  uint64_t movie_key = 0;
  uint64_t year_key = 0;
  std::vector<uint64_t> genre_keys;
  std::vector<std::string> genres;  // names, for genre domains
};

Status ReadWholeFile(const std::string& path, std::string* contents) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    const int err = errno;
    if (err == ENOENT) {
      return NotFoundError(path + ": no such file (expected the MovieLens ml-latest-small "
                                  "layout: a folder holding movies.csv and ratings.csv)");
    }
    return IoError(path + ": cannot open: " + std::strerror(err));
  }
  contents->clear();
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) contents->append(buffer, n);
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) return IoError(path + ": read error");
  return Status::Ok();
}

// Walks the lines of a file held in memory, numbering them from 1.
class LineCursor {
 public:
  explicit LineCursor(std::string_view data) : data_(data) {}

  bool Next(std::string_view* line) {
    if (pos_ >= data_.size()) return false;
    const size_t newline = data_.find('\n', pos_);
    const size_t end = newline == std::string_view::npos ? data_.size() : newline;
    *line = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    ++line_number_;
    return true;
  }
  int64_t line_number() const { return line_number_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  int64_t line_number_ = 0;
};

// Either fails the read on a malformed line or, with skip_bad_lines, counts
// it and keeps the first few messages as examples.
class BadLineHandler {
 public:
  BadLineHandler(const MovieLensOptions& options, ReadReport* report)
      : options_(options), report_(report) {}

  // `problem` says what is wrong ("column 3 (rating): expected ...").
  // Returns OK when the line is to be skipped, else the error to return.
  Status Handle(const std::string& path, int64_t line, const std::string& problem) {
    std::string where = path + ":" + std::to_string(line) + ": " + problem;
    if (!options_.skip_bad_lines) {
      return InvalidArgumentError(
          where + " (fix the line, or set skip_bad_lines / --skip_bad_lines to skip and count "
                  "malformed lines)");
    }
    ++report_->bad_lines_skipped;
    if (static_cast<int>(report_->bad_line_examples.size()) < options_.max_error_examples) {
      report_->bad_line_examples.push_back(std::move(where));
    }
    return Status::Ok();
  }

 private:
  const MovieLensOptions& options_;
  ReadReport* report_;
};

// `text` cut to a length that keeps an error message readable.
std::string Quote(std::string_view text) {
  constexpr size_t kMaxShown = 60;
  if (text.size() <= kMaxShown) return "'" + std::string(text) + "'";
  return "'" + std::string(text.substr(0, kMaxShown)) + "...'";
}

std::string ColumnProblem(int column, std::string_view name, std::string_view expected,
                          std::string_view found) {
  std::string s = "column " + std::to_string(column) + " (";
  s.append(name).append("): expected ").append(expected).append(", found ");
  s.append(Quote(found));
  return s;
}

bool ParseInt(std::string_view text, int64_t* value) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  return !text.empty() && ec == std::errc() && ptr == end;
}

bool ParseNonNegativeInt(std::string_view text, int64_t* value) {
  return ParseInt(text, value) && *value >= 0;
}

bool ParseRating(std::string_view text, double* value) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  return !text.empty() && ec == std::errc() && ptr == end && std::isfinite(*value) &&
         *value >= kMinRating && *value <= kMaxRating;
}

// The year in a title's trailing "(YYYY)" (trailing spaces allowed), or
// kUnknownYear. Ranges such as "(2006–2007)" count as unknown.
uint64_t TitleYear(std::string_view title) {
  while (!title.empty() && title.back() == ' ') title.remove_suffix(1);
  if (title.size() < 6 || title.back() != ')' || title[title.size() - 6] != '(') {
    return kUnknownYear;
  }
  uint64_t year = 0;
  for (size_t i = title.size() - 5; i < title.size() - 1; ++i) {
    if (title[i] < '0' || title[i] > '9') return kUnknownYear;
    year = year * 10 + static_cast<uint64_t>(title[i] - '0');
  }
  return year;
}

// Strips a UTF-8 byte-order mark some editors add, so the header still matches.
std::string_view StripBom(std::string_view line) {
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (line.substr(0, kBom.size()) == kBom) line.remove_prefix(kBom.size());
  return line;
}

Status CheckHeader(const std::string& path, LineCursor* lines, std::string_view expected) {
  std::string_view line;
  if (!lines->Next(&line)) {
    return InvalidArgumentError(path + ": empty file; expected the header line '" +
                                std::string(expected) + "'");
  }
  line = StripBom(StripTrailingCr(line));
  if (line != expected) {
    return InvalidArgumentError(path + ":1: expected the header line '" + std::string(expected) +
                                "', found " + Quote(line) +
                                " (is this a MovieLens ml-latest-small file?)");
  }
  return Status::Ok();
}

// Moves to the next data line of a CSV file and splits it into *cols:
// true with a row of `columns` (e.g. "movieId,title,genres") columns, false
// at the end. Blank lines are passed over; every other line counts in
// *lines_read, and one that does not split or has another column count goes
// to `bad` (its error, when it refuses to skip, is returned).
StatusOr<bool> NextCsvRow(const std::string& path, std::string_view columns, LineCursor* lines,
                          BadLineHandler* bad, int64_t* lines_read,
                          std::vector<std::string>* cols) {
  const size_t num_columns = std::count(columns.begin(), columns.end(), ',') + 1;
  std::string_view line;
  while (lines->Next(&line)) {
    if (StripTrailingCr(line).empty()) continue;
    ++*lines_read;
    const int64_t n = lines->line_number();
    const Status split = SplitCsvLine(line, cols);
    if (!split.ok()) {
      IAK_RETURN_IF_ERROR(bad->Handle(path, n, split.message()));
      continue;
    }
    if (cols->size() != num_columns) {
      IAK_RETURN_IF_ERROR(bad->Handle(path, n,
                                      "expected " + std::to_string(num_columns) + " columns (" +
                                          std::string(columns) + "), found " +
                                          std::to_string(cols->size())));
      continue;
    }
    return true;
  }
  return false;
}

// Fills movie->genres and genre_keys from a genres cell, each distinct genre
// once, in order of first appearance; false past kMaxMovieGenres distinct
// genres. Every genre's key is copied into every rating of the movie, so a
// cell repeating one genre a million times must not make a million keys.
bool ParseGenres(std::string_view genres, Movie* movie) {
  if (genres.empty() || genres == kNoGenres) return true;
  size_t start = 0;
  while (start <= genres.size()) {
    size_t bar = genres.find('|', start);
    if (bar == std::string_view::npos) bar = genres.size();
    const std::string_view genre = genres.substr(start, bar - start);
    start = bar + 1;
    if (genre.empty() ||
        std::find(movie->genres.begin(), movie->genres.end(), genre) != movie->genres.end()) {
      continue;
    }
    if (movie->genres.size() == movielens::kMaxMovieGenres) return false;
    movie->genre_keys.push_back(FeatureKey(kGenresField, HashBytes(genre)));
    movie->genres.emplace_back(genre);
  }
  return true;
}

Status ReadMovies(const std::string& path, BadLineHandler* bad, ReadReport* report,
                  std::unordered_map<int64_t, Movie>* movies) {
  std::string contents;
  IAK_RETURN_IF_ERROR(ReadWholeFile(path, &contents));
  LineCursor lines(contents);
  IAK_RETURN_IF_ERROR(CheckHeader(path, &lines, kMoviesHeader));

  std::vector<std::string> cols;
  while (true) {
    IAK_ASSIGN_OR_RETURN(const bool more, NextCsvRow(path, "movieId,title,genres", &lines, bad,
                                                     &report->movie_lines_read, &cols));
    if (!more) break;
    const int64_t n = lines.line_number();
    int64_t movie_id;
    if (!ParseNonNegativeInt(cols[0], &movie_id)) {
      IAK_RETURN_IF_ERROR(
          bad->Handle(path, n, ColumnProblem(1, "movieId", "a non-negative integer", cols[0])));
      continue;
    }
    if (movies->count(movie_id) != 0) {
      IAK_RETURN_IF_ERROR(bad->Handle(
          path, n, ColumnProblem(1, "movieId", "an id not defined on an earlier line", cols[0])));
      continue;
    }
    Movie movie;
    movie.movie_key = FeatureKey(kMovieField, static_cast<uint64_t>(movie_id));
    movie.year_key = FeatureKey(kYearField, TitleYear(cols[1]));
    if (!ParseGenres(cols[2], &movie)) {
      IAK_RETURN_IF_ERROR(bad->Handle(
          path, n,
          ColumnProblem(3, "genres",
                        "at most " + std::to_string(movielens::kMaxMovieGenres) +
                            " distinct '|'-separated genres",
                        cols[2])));
      continue;
    }
    movies->emplace(movie_id, std::move(movie));
  }
  return Status::Ok();
}

Status CheckPeriods(const std::vector<int>& bounds) {
  if (bounds.size() < 2) {
    return InvalidArgumentError(
        "MovieLensOptions.period_bounds needs at least two years (one period), got " +
        std::to_string(bounds.size()));
  }
  for (size_t i = 1; i < bounds.size(); ++i) {
    if (bounds[i] <= bounds[i - 1]) {
      return InvalidArgumentError("MovieLensOptions.period_bounds must be strictly increasing; "
                                  "entry " + std::to_string(i) + " (" +
                                  std::to_string(bounds[i]) + ") is not above the one before (" +
                                  std::to_string(bounds[i - 1]) + ")");
    }
  }
  return Status::Ok();
}

std::string PeriodName(int first_year, int end_year) {
  const int last_year = end_year - 1;
  if (last_year == first_year) return std::to_string(first_year);
  return std::to_string(first_year) + "-" + std::to_string(last_year);
}

// The first of `genre_domains` the movie has, or -1.
int GenreDomain(const std::vector<std::string>& genre_domains, const Movie& movie) {
  for (size_t d = 0; d < genre_domains.size(); ++d) {
    if (std::find(movie.genres.begin(), movie.genres.end(), genre_domains[d]) !=
        movie.genres.end()) {
      return static_cast<int>(d);
    }
  }
  return -1;
}

Status ReadRatings(const std::string& path, const MovieLensOptions& options,
                   const std::unordered_map<int64_t, Movie>& movies, BadLineHandler* bad,
                   ReadReport* report, Dataset* data) {
  std::string contents;
  IAK_RETURN_IF_ERROR(ReadWholeFile(path, &contents));
  const size_t approx_lines = static_cast<size_t>(std::count(contents.begin(), contents.end(), '\n'));
  data->click.reserve(approx_lines);
  data->domain.reserve(approx_lines);
  data->timestamp.reserve(approx_lines);
  data->offsets.reserve(approx_lines * kNumFields + 1);
  data->keys.reserve(approx_lines * (kNumFields + 2));

  LineCursor lines(contents);
  IAK_RETURN_IF_ERROR(CheckHeader(path, &lines, kRatingsHeader));
  const std::vector<int>& bounds = options.period_bounds;

  std::vector<std::string> cols;
  while (true) {
    IAK_ASSIGN_OR_RETURN(const bool more,
                         NextCsvRow(path, "userId,movieId,rating,timestamp", &lines, bad,
                                    &report->lines_read, &cols));
    if (!more) break;
    const int64_t n = lines.line_number();
    int64_t user_id, movie_id, timestamp;
    double rating;
    std::string problem;
    if (!ParseNonNegativeInt(cols[0], &user_id)) {
      problem = ColumnProblem(1, "userId", "a non-negative integer", cols[0]);
    } else if (!ParseNonNegativeInt(cols[1], &movie_id)) {
      problem = ColumnProblem(2, "movieId", "a non-negative integer", cols[1]);
    } else if (!ParseRating(cols[2], &rating)) {
      problem = ColumnProblem(3, "rating", "a number in [0.5, 5]", cols[2]);
    } else if (!ParseInt(cols[3], &timestamp)) {
      problem = ColumnProblem(4, "timestamp", "an integer (seconds since 1970-01-01 UTC)",
                              cols[3]);
    }
    const Movie* movie = nullptr;
    if (problem.empty()) {
      const auto it = movies.find(movie_id);
      if (it == movies.end()) {
        problem = ColumnProblem(2, "movieId", "an id defined in movies.csv", cols[1]);
      } else {
        movie = &it->second;
      }
    }
    if (!problem.empty()) {
      IAK_RETURN_IF_ERROR(bad->Handle(path, n, problem));
      continue;
    }

    const UtcFields utc = ToUtc(timestamp);
    const auto after = std::upper_bound(bounds.begin(), bounds.end(), utc.year);
    if (after == bounds.begin() || after == bounds.end()) {
      ++report->dropped_out_of_range;
      continue;
    }
    int domain = static_cast<int>(after - bounds.begin()) - 1;
    if (!options.genre_domains.empty()) {
      domain = GenreDomain(options.genre_domains, *movie);
      if (domain < 0) {
        ++report->dropped_out_of_range;
        continue;
      }
    }

    auto close_field = [data] { data->offsets.push_back(data->keys.size()); };
    data->keys.push_back(FeatureKey(kUserField, static_cast<uint64_t>(user_id)));
    close_field();
    data->keys.push_back(movie->movie_key);
    close_field();
    data->keys.insert(data->keys.end(), movie->genre_keys.begin(), movie->genre_keys.end());
    close_field();
    data->keys.push_back(movie->year_key);
    close_field();
    data->keys.push_back(FeatureKey(kWeekdayField, static_cast<uint64_t>(utc.weekday)));
    close_field();
    data->keys.push_back(FeatureKey(kHourField, static_cast<uint64_t>(utc.hour)));
    close_field();

    const bool positive = rating >= movielens::kPositiveRating;
    data->click.push_back(positive ? 1.0f : 0.0f);
    data->domain.push_back(domain);
    data->timestamp.push_back(timestamp);
    ++report->samples;
    report->positives += positive ? 1 : 0;
    ++report->domain_counts[static_cast<size_t>(domain)];
  }
  return Status::Ok();
}

}  // namespace

std::string ReadReport::ToString() const {
  std::ostringstream os;
  os << "movies.csv: " << movie_lines_read << " lines; ratings.csv: " << lines_read
     << " lines -> " << samples << " samples (" << positives << " positive), "
     << dropped_out_of_range << " outside every period (or genre domain), " << bad_lines_skipped
     << " bad lines skipped\nper domain:";
  for (size_t i = 0; i < domain_counts.size(); ++i) os << " " << i << "=" << domain_counts[i];
  for (const std::string& example : bad_line_examples) os << "\nskipped " << example;
  return os.str();
}

StatusOr<Dataset> ReadMovieLens(const MovieLensOptions& options, ReadReport* report) {
  ReadReport local_report;
  if (report == nullptr) report = &local_report;
  *report = ReadReport();
  IAK_RETURN_IF_ERROR(CheckPeriods(options.period_bounds));

  Dataset data;
  data.fields = {
      {"user", false, Pooling::kSum},      {"movie", false, Pooling::kSum},
      {"genres", true, Pooling::kMean},    {"year", false, Pooling::kSum},
      {"weekday", false, Pooling::kSum},   {"hour", false, Pooling::kSum},
  };
  const std::vector<int>& bounds = options.period_bounds;
  for (size_t i = 0; i + 1 < bounds.size(); ++i) {
    data.domain_names.push_back(PeriodName(bounds[i], bounds[i + 1]));
  }
  if (!options.genre_domains.empty()) data.domain_names = options.genre_domains;
  report->domain_counts.assign(data.domain_names.size(), 0);

  const std::string dir = options.dir.empty() ? "." : options.dir;
  BadLineHandler bad(options, report);
  std::unordered_map<int64_t, Movie> movies;
  IAK_RETURN_IF_ERROR(ReadMovies(dir + "/movies.csv", &bad, report, &movies));
  IAK_RETURN_IF_ERROR(ReadRatings(dir + "/ratings.csv", options, movies, &bad, report, &data));
  return data;
}

}  // namespace iak::data
