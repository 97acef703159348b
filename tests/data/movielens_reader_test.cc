#include "data/movielens_reader.h"

#include <stdlib.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/keys.h"

namespace iak::data {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kBundledDir[] = "datasets/ml-latest-small";

std::vector<uint64_t> Keys(const Dataset& d, size_t sample, int field) {
  size_t n = 0;
  const uint64_t* k = d.FieldKeys(sample, field, &n);
  return std::vector<uint64_t>(k, k + n);
}

// ---------------------------------------------------------------------------
// The bundled ml-latest-small, read once for all tests of this suite.

class BundledMovieLensTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    MovieLensOptions options;
    options.dir = kBundledDir;
    options.period_bounds = {1996, 2004, 2008, 2012, 2016, 2019};
    report_ = new ReadReport;
    const auto start = std::chrono::steady_clock::now();
    StatusOr<Dataset> data = ReadMovieLens(options, report_);
    seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(data.ok()) << data.status();
    data_ = new Dataset(std::move(data).value());
  }
  static void TearDownTestSuite() {
    delete data_;
    delete report_;
    data_ = nullptr;
    report_ = nullptr;
  }

  static Dataset* data_;
  static ReadReport* report_;
  static double seconds_;
};

Dataset* BundledMovieLensTest::data_ = nullptr;
ReadReport* BundledMovieLensTest::report_ = nullptr;
double BundledMovieLensTest::seconds_ = 0;

TEST_F(BundledMovieLensTest, CountsMatchThePublishedData) {
  ASSERT_NE(data_, nullptr);
  // Figures from the GroupLens README and an independent count with Python's
  // csv module (ratings >= 4.0; UTC year of each timestamp).
  EXPECT_EQ(data_->size(), 100836u);
  EXPECT_EQ(report_->lines_read, 100836);
  EXPECT_EQ(report_->movie_lines_read, 9742);
  EXPECT_EQ(report_->samples, 100836);
  EXPECT_EQ(report_->positives, 48580);
  EXPECT_EQ(report_->dropped_out_of_range, 0);
  EXPECT_EQ(report_->bad_lines_skipped, 0);
  EXPECT_THAT(report_->domain_counts, ElementsAre(32377, 20265, 12500, 14375, 21319));
  EXPECT_THAT(data_->domain_names,
              ElementsAre("1996-2003", "2004-2007", "2008-2011", "2012-2015", "2016-2018"));

  double positives = 0;
  for (float c : data_->click) positives += c;
  EXPECT_EQ(positives, 48580);
  EXPECT_FALSE(data_->has_conversion());
  EXPECT_EQ(data_->domain.size(), data_->size());
  EXPECT_EQ(data_->timestamp.size(), data_->size());
  EXPECT_EQ(data_->offsets.size(), data_->size() * 6 + 1);
  EXPECT_EQ(data_->offsets.back(), data_->keys.size());
  // A loose bound so a loaded CI box does not flake; typically ~0.1 s.
  EXPECT_LT(seconds_, 5.0);
}

TEST_F(BundledMovieLensTest, FieldLayout) {
  ASSERT_NE(data_, nullptr);
  ASSERT_EQ(data_->num_fields(), movielens::kNumFields);
  EXPECT_EQ(data_->fields[movielens::kGenresField].name, "genres");
  EXPECT_TRUE(data_->fields[movielens::kGenresField].multi_valued);
  EXPECT_EQ(data_->fields[movielens::kGenresField].pooling, Pooling::kMean);
  for (int f : {0, 1, 3, 4, 5}) EXPECT_FALSE(data_->fields[f].multi_valued) << f;
}

TEST_F(BundledMovieLensTest, FirstSample) {
  ASSERT_NE(data_, nullptr);
  // 1,1,4.0,964982703: Toy Story (1995), Sunday 2000-07-30 18:45:03 UTC.
  EXPECT_THAT(Keys(*data_, 0, 0), ElementsAre(FeatureKey(0, 1)));
  EXPECT_THAT(Keys(*data_, 0, 1), ElementsAre(FeatureKey(1, 1)));
  EXPECT_THAT(Keys(*data_, 0, 2),
              ElementsAre(FeatureKey(2, HashBytes("Adventure")), FeatureKey(2, HashBytes("Animation")),
                          FeatureKey(2, HashBytes("Children")), FeatureKey(2, HashBytes("Comedy")),
                          FeatureKey(2, HashBytes("Fantasy"))));
  EXPECT_THAT(Keys(*data_, 0, 3), ElementsAre(FeatureKey(3, 1995)));
  EXPECT_THAT(Keys(*data_, 0, 4), ElementsAre(FeatureKey(4, 0)));
  EXPECT_THAT(Keys(*data_, 0, 5), ElementsAre(FeatureKey(5, 18)));
  EXPECT_EQ(data_->click[0], 1.0f);
  EXPECT_EQ(data_->timestamp[0], 964982703);
  EXPECT_EQ(data_->domain[0], 0);
}

TEST_F(BundledMovieLensTest, QuotedTitleTrailingSpaceNoYearNoGenres) {
  ASSERT_NE(data_, nullptr);
  // Sample 568 rates movie 11, "American President, The (1995)" (quoted).
  EXPECT_THAT(Keys(*data_, 568, 1), ElementsAre(FeatureKey(1, 11)));
  EXPECT_THAT(Keys(*data_, 568, 2),
              ElementsAre(FeatureKey(2, HashBytes("Comedy")), FeatureKey(2, HashBytes("Drama")),
                          FeatureKey(2, HashBytes("Romance"))));
  EXPECT_THAT(Keys(*data_, 568, 3), ElementsAre(FeatureKey(3, 1995)));
  // Sample 13877 rates movie 96608, "Runaway Brain (1995) " (trailing space).
  EXPECT_THAT(Keys(*data_, 13877, 3), ElementsAre(FeatureKey(3, 1995)));
  // Sample 30090 rates movie 40697, "Babylon 5" (no year).
  EXPECT_THAT(Keys(*data_, 30090, 3), ElementsAre(FeatureKey(3, movielens::kUnknownYear)));
  // Sample 3624 rates movie 122896, "(no genres listed)".
  EXPECT_TRUE(Keys(*data_, 3624, 2).empty());
}

// ---------------------------------------------------------------------------
// Small hand-written files in a fresh temporary folder.

constexpr char kMovies[] =
    "movieId,title,genres\r\n"
    "1,Toy Story (1995),Adventure|Animation\r\n"
    "2,\"American President, The (1995)\",Comedy|Drama\r\n"
    "3,Untitled,(no genres listed)\r\n";

class MovieLensFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = ::testing::TempDir() + "iak_movielens_XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    options_.dir = dir_;
    options_.period_bounds = {2000, 2010, 2020};
  }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name, std::ios::binary) << text;
  }
  // Writes kMovies and a ratings.csv with `rating_lines` after the header.
  void WriteFiles(const std::string& rating_lines) {
    Write("movies.csv", kMovies);
    Write("ratings.csv", "userId,movieId,rating,timestamp\r\n" + rating_lines);
  }
  Status Read() { return ReadMovieLens(options_, &report_).status(); }

  // Checks that an error names ratings.csv, the line, and the skip flag.
  void ExpectLineError(const Status& s, const std::string& file_line, const std::string& what) {
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(s.message(), HasSubstr(dir_ + "/" + file_line + ":")) << s;
    EXPECT_THAT(s.message(), HasSubstr(what)) << s;
    EXPECT_THAT(s.message(), HasSubstr("skip_bad_lines")) << s;
  }

  std::string dir_;
  MovieLensOptions options_;
  ReadReport report_;
};

// 2005-06-15 12:00:00 UTC (Wednesday) and 2015-06-15 12:00:00 UTC (Monday).
constexpr char kT2005[] = "1118836800";
constexpr char kT2015[] = "1434369600";

TEST_F(MovieLensFilesTest, ReadsSmallFiles) {
  WriteFiles(std::string("7,2,4.5,") + kT2005 + "\r\n8,3,3.5," + kT2015 + "\r\n9,1,1.0,99\r\n");
  StatusOr<Dataset> data = ReadMovieLens(options_, &report_);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->size(), 2u);
  EXPECT_EQ(report_.dropped_out_of_range, 1);  // 1970 is in no period
  EXPECT_THAT(data->domain, ElementsAre(0, 1));
  EXPECT_THAT(data->domain_names, ElementsAre("2000-2009", "2010-2019"));
  EXPECT_THAT(data->click, ElementsAre(1.0f, 0.0f));
  EXPECT_THAT(Keys(*data, 0, 2),
              ElementsAre(FeatureKey(2, HashBytes("Comedy")), FeatureKey(2, HashBytes("Drama"))));
  EXPECT_THAT(Keys(*data, 0, 4), ElementsAre(FeatureKey(4, 3)));
  EXPECT_THAT(Keys(*data, 0, 5), ElementsAre(FeatureKey(5, 12)));
  EXPECT_TRUE(Keys(*data, 1, 2).empty());
  EXPECT_THAT(Keys(*data, 1, 3), ElementsAre(FeatureKey(3, movielens::kUnknownYear)));
  EXPECT_THAT(Keys(*data, 1, 4), ElementsAre(FeatureKey(4, 1)));
}

TEST_F(MovieLensFilesTest, GenreDomainsTakeTheFirstListedGenreTheMovieHas) {
  // Movie 2 is Comedy|Drama: with Drama listed first it goes to Drama.
  // Movie 3 has no genres and movie 1 none of the listed: both dropped.
  options_.genre_domains = {"Drama", "Comedy"};
  WriteFiles(std::string("7,2,4.5,") + kT2005 + "\r\n8,3,3.5," + kT2015 + "\r\n9,1,1.0," +
             kT2015 + "\r\n");
  StatusOr<Dataset> data = ReadMovieLens(options_, &report_);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->size(), 1u);
  EXPECT_THAT(data->domain_names, ElementsAre("Drama", "Comedy"));
  EXPECT_THAT(data->domain, ElementsAre(0));
  EXPECT_EQ(report_.dropped_out_of_range, 2);
  options_.genre_domains = {"Comedy", "Drama"};
  data = ReadMovieLens(options_, &report_);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->domain, ElementsAre(0));
  EXPECT_THAT(data->domain_names, ElementsAre("Comedy", "Drama"));
}

TEST_F(MovieLensFilesTest, WrongColumnCount) {
  WriteFiles(std::string("7,2,4.5,") + kT2005 + "\r\n7,2,4.5\r\n");
  ExpectLineError(Read(), "ratings.csv:3", "expected 4 columns");
}

TEST_F(MovieLensFilesTest, NonNumericId) {
  WriteFiles(std::string("seven,2,4.5,") + kT2005 + "\r\n");
  ExpectLineError(Read(), "ratings.csv:2", "column 1 (userId)");
}

TEST_F(MovieLensFilesTest, NonNumericTimestamp) {
  WriteFiles("7,2,4.5,yesterday\r\n");
  ExpectLineError(Read(), "ratings.csv:2", "column 4 (timestamp)");
}

TEST_F(MovieLensFilesTest, RatingOutOfRange) {
  WriteFiles(std::string("7,2,5.5,") + kT2005 + "\r\n");
  ExpectLineError(Read(), "ratings.csv:2", "column 3 (rating): expected a number in [0.5, 5]");
  WriteFiles(std::string("7,2,good,") + kT2005 + "\r\n");
  ExpectLineError(Read(), "ratings.csv:2", "column 3 (rating)");
}

TEST_F(MovieLensFilesTest, UnknownMovie) {
  WriteFiles(std::string("7,42,4.0,") + kT2005 + "\r\n");
  ExpectLineError(Read(), "ratings.csv:2", "column 2 (movieId): expected an id defined in movies.csv");
}

TEST_F(MovieLensFilesTest, UnterminatedQuoteInMovies) {
  Write("movies.csv", std::string(kMovies) + "4,\"Heat (1995),Action\r\n");
  Write("ratings.csv", "userId,movieId,rating,timestamp\r\n");
  ExpectLineError(Read(), "movies.csv:5", "unterminated double quote");
}

TEST_F(MovieLensFilesTest, BadHeader) {
  Write("movies.csv", kMovies);
  Write("ratings.csv", "user,movie,rating,time\r\n");
  const Status s = Read();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr(dir_ + "/ratings.csv:1: expected the header line"));
}

TEST_F(MovieLensFilesTest, MissingFile) {
  Write("movies.csv", kMovies);
  const Status s = Read();
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr(dir_ + "/ratings.csv"));
}

TEST_F(MovieLensFilesTest, BadPeriodBounds) {
  WriteFiles("");
  options_.period_bounds = {2010, 2000};
  EXPECT_EQ(Read().code(), StatusCode::kInvalidArgument);
  options_.period_bounds = {2010};
  EXPECT_EQ(Read().code(), StatusCode::kInvalidArgument);
}

// Each rating of a movie carries its genres' keys: a genres cell repeating
// one genre a million times used to give every rating a million keys.
TEST_F(MovieLensFilesTest, RepeatedGenresCountOnce) {
  std::string genres = "Comedy|Drama";
  for (int i = 0; i < 1000000; ++i) genres += "|Drama";
  Write("movies.csv", "movieId,title,genres\r\n2,Repeated (1995)," + genres + "|Comedy\r\n");
  Write("ratings.csv", std::string("userId,movieId,rating,timestamp\r\n7,2,4.5,") + kT2005 +
                           "\r\n8,2,3.0," + kT2015 + "\r\n");
  StatusOr<Dataset> data = ReadMovieLens(options_, &report_);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->size(), 2u);
  for (size_t s = 0; s < 2; ++s) {
    EXPECT_THAT(Keys(*data, s, 2),
                ElementsAre(FeatureKey(2, HashBytes("Comedy")), FeatureKey(2, HashBytes("Drama"))));
  }
  EXPECT_EQ(data->keys.size(), 2u * 7);  // user, movie, 2 genres, year, weekday, hour
}

// More distinct genres than kMaxMovieGenres: a bad movies.csv line, refused
// (naming file, line and column) or skipped and counted like the others.
TEST_F(MovieLensFilesTest, AMovieWithTooManyGenresIsABadLine) {
  std::string genres;
  for (size_t g = 0; g <= movielens::kMaxMovieGenres; ++g) {
    genres += (g == 0 ? "g" : "|g") + std::to_string(g);
  }
  std::string at_cap = genres.substr(0, genres.rfind('|'));
  Write("movies.csv", std::string(kMovies) + "4,Many (2001)," + genres + "\r\n5,Cap (2001)," +
                          at_cap + "\r\n");
  Write("ratings.csv", std::string("userId,movieId,rating,timestamp\r\n7,5,4.5,") + kT2005 +
                           "\r\n7,4,4.5," + kT2005 + "\r\n");
  ExpectLineError(Read(), "movies.csv:5",
                  "column 3 (genres): expected at most 64 distinct '|'-separated genres");
  options_.skip_bad_lines = true;
  StatusOr<Dataset> data = ReadMovieLens(options_, &report_);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->size(), 1u);  // the rating of movie 4 names a movie that was skipped
  EXPECT_EQ(Keys(*data, 0, 2).size(), movielens::kMaxMovieGenres);
  EXPECT_EQ(report_.bad_lines_skipped, 2);
  ASSERT_EQ(report_.bad_line_examples.size(), 2u);
  EXPECT_THAT(report_.bad_line_examples[0], HasSubstr("movies.csv:5: column 3 (genres)"));
  EXPECT_THAT(report_.bad_line_examples[1], HasSubstr("ratings.csv:3: column 2 (movieId)"));
}

TEST_F(MovieLensFilesTest, SkipBadLinesSkipsAndCounts) {
  WriteFiles(std::string("7,2,4.5,") + kT2005 + "\r\n" +  // good
             "7,2\r\n" +                                    // columns
             "x,2,4.0," + kT2005 + "\r\n" +                 // non-numeric
             "7,2,0.0," + kT2005 + "\r\n" +                 // rating
             "7,42,4.0," + kT2005 + "\r\n" +                // unknown movie
             "\r\n" +                                       // blank: ignored
             "8,1,2.0," + kT2015 + "\r\n");                 // good
  Write("movies.csv", std::string(kMovies) + "4,\"Heat (1995),Action\r\n");
  options_.skip_bad_lines = true;
  options_.max_error_examples = 2;
  StatusOr<Dataset> data = ReadMovieLens(options_, &report_);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->size(), 2u);
  EXPECT_EQ(report_.samples, 2);
  EXPECT_EQ(report_.bad_lines_skipped, 5);  // 1 in movies.csv + 4 in ratings.csv
  EXPECT_EQ(report_.lines_read, 6);
  EXPECT_EQ(report_.movie_lines_read, 4);
  EXPECT_THAT(report_.domain_counts, ElementsAre(1, 1));
  ASSERT_EQ(report_.bad_line_examples.size(), 2u);
  EXPECT_THAT(report_.bad_line_examples[0], HasSubstr("movies.csv:5: column 2"));
  EXPECT_THAT(report_.bad_line_examples[1], HasSubstr("ratings.csv:3: expected 4 columns"));
  EXPECT_THAT(report_.ToString(), HasSubstr("5 bad lines skipped"));
}

}  // namespace
}  // namespace iak::data
