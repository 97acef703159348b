// The run report's validation part: validation.json read back (hand-written,
// and as rank 0 writes it), the plot data and script, the table, and the
// whole report with and without validation.json (gnuplot draws it when
// installed).
#include "cluster/validation_report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "cluster/run_report.h"
#include "common/file_util.h"
#include "tests/testing/temp_dir.h"
#include "worker/training_results.h"

namespace iak::cluster {
namespace {

// As worker/training_results.cc writes it: a domain that improved, one that
// kept the base and stopped early, one whose split held one class (NaN as
// null), one never evaluated.
const char kValidationJson[] = R"({"units": [
  {"unit": "2004-2007", "evaluated": true, "base_auc": 0.65, "base_logloss": 0.61, "best_auc": 0.67, "best_step": 100, "kept_base": false, "stopped": false, "stopped_at": 0, "steps": 75, "curve": [{"global_step": 0, "auc": 0.65, "logloss": 0.61}, {"global_step": 50, "auc": 0.66, "logloss": 0.6}, {"global_step": 100, "auc": 0.67, "logloss": 0.59}]},
  {"unit": "shared:2008-2011+'x'", "evaluated": true, "base_auc": 0.7, "base_logloss": 0.55, "best_auc": 0.7, "best_step": 0, "kept_base": true, "stopped": true, "stopped_at": 100, "steps": 50, "curve": [{"global_step": 0, "auc": 0.7, "logloss": 0.55}, {"global_step": 50, "auc": 0.69, "logloss": 0.56}, {"global_step": 100, "auc": 0.68, "logloss": 0.57}]},
  {"unit": "one|class", "evaluated": true, "base_auc": null, "base_logloss": 0.1, "best_auc": null, "best_step": -1, "kept_base": false, "stopped": false, "stopped_at": 0, "steps": 75, "curve": [{"global_step": 0, "auc": null, "logloss": 0.1}]},
  {"unit": "2016-2018", "evaluated": false, "base_auc": 0, "base_logloss": 0, "best_auc": 0, "best_step": 0, "kept_base": false, "stopped": false, "stopped_at": 0, "steps": 0, "curve": []}
]}
)";

TEST(ValidationReportTest, ReadsAHandWrittenValidationJson) {
  StatusOr<std::vector<UnitValidationRow>> rows = ParseValidationJson(kValidationJson);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 4u);
  const UnitValidationRow& improved = (*rows)[0];
  EXPECT_EQ(improved.unit, "2004-2007");
  EXPECT_TRUE(improved.evaluated);
  EXPECT_DOUBLE_EQ(improved.base_auc, 0.65);
  EXPECT_DOUBLE_EQ(improved.best_auc, 0.67);
  EXPECT_EQ(improved.best_step, 100);
  EXPECT_FALSE(improved.kept_base);
  EXPECT_EQ(improved.steps, 75);
  ASSERT_EQ(improved.curve.size(), 3u);
  EXPECT_EQ(improved.curve[1].global_step, 50);
  EXPECT_DOUBLE_EQ(improved.curve[1].auc, 0.66);
  EXPECT_DOUBLE_EQ(improved.curve[1].logloss, 0.6);
  const UnitValidationRow& kept = (*rows)[1];
  EXPECT_TRUE(kept.kept_base);
  EXPECT_TRUE(kept.stopped);
  EXPECT_EQ(kept.stopped_at, 100);
  const UnitValidationRow& one_class = (*rows)[2];
  EXPECT_TRUE(std::isnan(one_class.base_auc));
  EXPECT_TRUE(std::isnan(one_class.curve[0].auc));
  EXPECT_EQ(one_class.best_step, -1);
  EXPECT_FALSE((*rows)[3].evaluated);
  EXPECT_TRUE((*rows)[3].curve.empty());
}

TEST(ValidationReportTest, ReadsWhatRankZeroWrites) {
  worker::TrainedUnit unit;
  unit.name = "2012-2015";
  unit.steps = 30;
  proto::UnitValidation& v = unit.validation;
  v.set_evaluated(true);
  v.set_base_auc(0.61);
  v.set_base_logloss(0.5);
  v.set_best_auc(0.63);
  v.set_best_step(20);
  for (int step : {0, 10, 20}) {
    proto::ValidationPoint* p = v.add_curve();
    p->set_global_step(step);
    p->set_auc(0.61 + step * 0.001);
    p->set_logloss(std::nan(""));
  }
  StatusOr<std::vector<UnitValidationRow>> rows =
      ParseValidationJson(worker::ValidationJson({unit}));
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].unit, "2012-2015");
  EXPECT_DOUBLE_EQ((*rows)[0].best_auc, 0.63);
  EXPECT_EQ((*rows)[0].best_step, 20);
  EXPECT_EQ((*rows)[0].steps, 30);
  ASSERT_EQ((*rows)[0].curve.size(), 3u);
  EXPECT_DOUBLE_EQ((*rows)[0].curve[2].auc, 0.63);
  EXPECT_TRUE(std::isnan((*rows)[0].curve[2].logloss));
}

TEST(ValidationReportTest, RefusesWhatIsNotAValidationJson) {
  for (const char* bad : {"", "{\"units\": [", "{\"domains\": []}", "{\"units\": [{}]}"}) {
    StatusOr<std::vector<UnitValidationRow>> rows = ParseValidationJson(bad);
    ASSERT_FALSE(rows.ok()) << bad;
    EXPECT_EQ(rows.status().code(), StatusCode::kDataLoss) << bad;
    EXPECT_NE(rows.status().message().find("validation.json"), std::string::npos);
  }
  StatusOr<std::vector<UnitValidationRow>> none = ParseValidationJson("{\"units\": []}");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(ValidationReportTest, PlotsEachUnitWithACurveAndItsBaseDashed) {
  StatusOr<std::vector<UnitValidationRow>> rows = ParseValidationJson(kValidationJson);
  ASSERT_TRUE(rows.ok());
  const std::string data = ValidationPlotData(*rows);
  // Three blocks (the unevaluated unit has no curve), two blank lines apart.
  EXPECT_EQ(data,
            "# 2004-2007: global_step auc base_auc\n0 0.65 0.65\n50 0.66 0.65\n100 0.67 0.65\n"
            "\n\n# shared:2008-2011+'x': global_step auc base_auc\n0 0.7 0.7\n50 0.69 0.7\n"
            "100 0.68 0.7\n"
            "\n\n# one|class: global_step auc base_auc\n0 NaN NaN\n");
  const std::string script = ValidationPlotScript(*rows, "/r/validation.dat", "/r/validation.png");
  EXPECT_NE(script.find("set output '/r/validation.png'"), std::string::npos) << script;
  EXPECT_NE(script.find("index 0 using 1:2 with linespoints lc 1 title '2004-2007'"),
            std::string::npos) << script;
  EXPECT_NE(script.find("index 0 using 1:3 with lines dt 2 lc 1 notitle"), std::string::npos);
  // A quote in a name is doubled inside gnuplot's single quotes.
  EXPECT_NE(script.find("index 1 using 1:2 with linespoints lc 2 title "
                        "'shared:2008-2011+''x'''"),
            std::string::npos) << script;
  EXPECT_NE(script.find("index 2 using 1:3"), std::string::npos);
  EXPECT_EQ(script.find("index 3"), std::string::npos);
  EXPECT_EQ(ValidationPlotScript({}, "d", "p"), "");
}

TEST(ValidationReportTest, TablesBaseBestAndOutcome) {
  StatusOr<std::vector<UnitValidationRow>> rows = ParseValidationJson(kValidationJson);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(ValidationTable(*rows),
            "| domain | base AUC | best AUC | gain | best step | outcome |\n"
            "|---|---|---|---|---|---|\n"
            "| 2004-2007 | 0.6500 | 0.6700 | +0.0200 | 100 | improved |\n"
            "| shared:2008-2011+'x' | 0.7000 | 0.7000 | +0.0000 | 0 (base) | kept base; stopped "
            "early at step 100 |\n"
            "| one\\|class | n/a | n/a | n/a | n/a | no AUC (one class): last parameters |\n"
            "| 2016-2018 | n/a | n/a | n/a | n/a | not evaluated |\n");
}

// The whole report from a hand-made run directory.
class RunReportFilesTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    std::filesystem::create_directories(dir_.path() + "/logs");
    ASSERT_TRUE(WriteFileAtomically(
                    dir_.path() + "/logs/workers.log",
                    "I1 w] progress: phase compression: 100 steps, beta 0.001\n"
                    "I1 w] progress: compression step 50/100  loss 0.70  1 samples/s\n"
                    "I1 w] progress: compression step 100/100  loss 0.65  1 samples/s\n")
                    .ok());
    ASSERT_TRUE(WriteFileAtomically(dir_.path() + "/results.json",
                                    "{\"domains\": [{\"domain\": \"2004-2007\", \"base_auc\": "
                                    "0.65, \"iak_auc\": 0.66}]}\n")
                    .ok());
    gnuplot_ = std::system("gnuplot --version > /dev/null 2>&1") == 0;
  }

  std::string Report() const {
    std::string md;
    EXPECT_TRUE(ReadFileToString(dir_.path() + "/report/report.md", &md).ok());
    return md;
  }

  testing_util::TempDir dir_{"iak_validation_report"};
  bool gnuplot_ = false;
};

TEST_F(RunReportFilesTest, AddsValidationCurvesAndTable) {
  if (!gnuplot_) GTEST_SKIP() << "gnuplot is not installed";
  ASSERT_TRUE(WriteFileAtomically(dir_.path() + "/validation.json", kValidationJson).ok());
  const Status written = WriteRunReport(dir_.path());
  ASSERT_TRUE(written.ok()) << written;
  const std::string md = Report();
  EXPECT_NE(md.find("![validation AUC per domain](validation.png)"), std::string::npos) << md;
  EXPECT_NE(md.find("| 2004-2007 | 0.6500 | 0.6700 | +0.0200 | 100 | improved |"),
            std::string::npos) << md;
  EXPECT_LT(md.find("loss.png"), md.find("validation.png"));
  EXPECT_GT(std::filesystem::file_size(dir_.path() + "/report/validation.png"), 1000u);
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/report/validation.dat"));
  EXPECT_GT(std::filesystem::file_size(dir_.path() + "/report/auc.png"), 1000u);
}

TEST_F(RunReportFilesTest, WorksWithoutValidationJson) {
  if (!gnuplot_) GTEST_SKIP() << "gnuplot is not installed";
  // A report of an earlier run in this directory, with validation on.
  ASSERT_TRUE(WriteFileAtomically(dir_.path() + "/validation.json", kValidationJson).ok());
  ASSERT_TRUE(WriteRunReport(dir_.path()).ok());
  ASSERT_TRUE(std::filesystem::exists(dir_.path() + "/report/validation.png"));
  std::filesystem::remove(dir_.path() + "/validation.json");
  const Status written = WriteRunReport(dir_.path());
  ASSERT_TRUE(written.ok()) << written;
  const std::string md = Report();
  EXPECT_NE(md.find("No `validation.json`"), std::string::npos) << md;
  EXPECT_EQ(md.find("validation.png"), std::string::npos) << md;
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/report/validation.png"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/report/validation.dat"));
  EXPECT_GT(std::filesystem::file_size(dir_.path() + "/report/loss.png"), 1000u);
}

// Rank 0 writes validation.json with validation off too: no unit evaluated.
TEST_F(RunReportFilesTest, SaysValidationWasOffWhenNoUnitWasEvaluated) {
  if (!gnuplot_) GTEST_SKIP() << "gnuplot is not installed";
  worker::TrainedUnit unit;
  unit.name = "2004-2007";
  ASSERT_TRUE(
      WriteFileAtomically(dir_.path() + "/validation.json", worker::ValidationJson({unit})).ok());
  const Status written = WriteRunReport(dir_.path());
  ASSERT_TRUE(written.ok()) << written;
  const std::string md = Report();
  EXPECT_NE(md.find("`validation.json` records no evaluation"), std::string::npos) << md;
  EXPECT_EQ(md.find("validation.png"), std::string::npos) << md;
}

TEST_F(RunReportFilesTest, NamesAnUnreadableValidationJson) {
  ASSERT_TRUE(WriteFileAtomically(dir_.path() + "/validation.json", "{\"units\": [").ok());
  const Status written = WriteRunReport(dir_.path());
  EXPECT_EQ(written.code(), StatusCode::kDataLoss) << written;
  EXPECT_NE(written.message().find(dir_.path() + "/validation.json"), std::string::npos)
      << written;
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/report"));
}

// A folder that is not a run directory gets an error and no report/ folder.
TEST(RunReportTest, WritesNothingIntoAFolderThatIsNotARun) {
  testing_util::TempDir dir("iak_not_a_run");
  ASSERT_TRUE(dir.ok());
  const Status written = WriteRunReport(dir.path());
  EXPECT_EQ(written.code(), StatusCode::kNotFound) << written;
  EXPECT_NE(written.message().find(dir.path() + "/logs/workers.log"), std::string::npos)
      << written;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/report"));
}

}  // namespace
}  // namespace iak::cluster
