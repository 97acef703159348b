// Reading the MovieLens "ml-latest-small" layout (ratings.csv + movies.csv)
// into a Dataset whose domains are time periods.
//
// Each rating becomes one sample with these fields, keys
// FeatureKey(field, value):
//   0 user      userId
//   1 movie     movieId
//   2 genres    HashBytes(genre) per distinct '|'-separated genre (a
//               repeated one counts once), mean-pooled;
//               "(no genres listed)" gives zero keys
//   3 year      the year in the title's trailing "(YYYY)";
//               movielens::kUnknownYear when the title has none
//   4 weekday   0 = Sunday .. 6 = Saturday, of the rating's UTC time
//   5 hour      0..23, of the rating's UTC time
// click = (rating >= 4.0); there is no conversion label. The domain is the
// period (see MovieLensOptions::period_bounds) holding the rating's UTC year,
// or with MovieLensOptions::genre_domains the first listed genre the movie has.
// Samples keep the order of ratings.csv.
//
// Thread-safety: ReadMovieLens touches only its arguments and the two files;
// concurrent calls are safe.
#ifndef IAK_DATA_MOVIELENS_READER_H_
#define IAK_DATA_MOVIELENS_READER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/dataset.h"

namespace iak::data {

namespace movielens {
// Field indices, in Dataset::fields order.
inline constexpr int kUserField = 0;
inline constexpr int kMovieField = 1;
inline constexpr int kGenresField = 2;
inline constexpr int kYearField = 3;
inline constexpr int kWeekdayField = 4;
inline constexpr int kHourField = 5;
inline constexpr int kNumFields = 6;
// Year-field value for titles without "(YYYY)"; no real release year is 0.
inline constexpr uint64_t kUnknownYear = 0;
// A rating at or above this is a click (positive).
inline constexpr float kPositiveRating = 4.0f;
// A movies.csv line listing more distinct genres than this is malformed
// (ml-latest-small's movies have at most 10): each rating of the movie
// carries every genre's key.
inline constexpr size_t kMaxMovieGenres = 64;
}  // namespace movielens

struct MovieLensOptions {
  // Folder holding ratings.csv and movies.csv, e.g. "datasets/ml-latest-small".
  std::string dir;
  // Period boundaries in UTC years, strictly increasing, at least two:
  // domain i covers years [period_bounds[i], period_bounds[i + 1]).
  // Ratings outside every period are dropped and counted in the report.
  // The default covers all of ml-latest-small (1996..2018) in five periods.
  std::vector<int> period_bounds = {1996, 2004, 2008, 2012, 2016, 2019};
  // false (default): the first malformed line fails the read.
  // true: malformed lines are skipped and counted in the report instead.
  bool skip_bad_lines = false;
  // Not empty: one domain per genre named here instead of one per period; a
  // rating's domain is the first of these its movie has (the list is a
  // priority order, since a movie has several genres), and ratings of movies
  // with none of them are dropped and counted as out of range. period_bounds
  // still bounds the years read.
  std::vector<std::string> genre_domains;
  // How many skipped lines the report quotes (the rest are only counted).
  int max_error_examples = 5;
};

// What ReadMovieLens saw. Counts are of data lines (headers excluded).
struct ReadReport {
  int64_t movie_lines_read = 0;   // movies.csv
  int64_t lines_read = 0;         // ratings.csv
  int64_t samples = 0;            // ratings kept as samples
  int64_t positives = 0;          // samples with click = 1
  int64_t bad_lines_skipped = 0;  // both files; only with skip_bad_lines
  // "path:line: column N (name): expected ..., found '...'" for the first
  // MovieLensOptions::max_error_examples skipped lines.
  std::vector<std::string> bad_line_examples;
  int64_t dropped_out_of_range = 0;  // ratings whose year is in no period (or in no genre domain)
  std::vector<int64_t> domain_counts;  // samples per domain

  // A few human-readable lines for logs.
  std::string ToString() const;
};

// Reads `options.dir`/movies.csv then `options.dir`/ratings.csv.
// `report` may be null; when not, it is overwritten (also on error, with what
// was counted up to the failure).
//
// Errors:
//   NotFoundError      a file is missing (the message names the path).
//   IoError            a file exists but cannot be read.
//   InvalidArgumentError
//     - bad options (period_bounds not strictly increasing, fewer than two);
//     - a header that is not the MovieLens one;
//     - unless skip_bad_lines: a malformed data line (wrong column count,
//       non-numeric id/rating/timestamp, rating outside [0.5, 5], a movieId
//       in ratings.csv that movies.csv does not define, a duplicate movieId,
//       a movie with more than movielens::kMaxMovieGenres distinct genres,
//       a bad quote). The message names the file, 1-based line, column and
//       what was expected, and mentions skip_bad_lines.
// Blank lines are ignored.
[[nodiscard]] StatusOr<Dataset> ReadMovieLens(const MovieLensOptions& options,
                                              ReadReport* report);

}  // namespace iak::data

#endif  // IAK_DATA_MOVIELENS_READER_H_
