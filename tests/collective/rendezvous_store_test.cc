// The rendezvous store: in memory, and over the RPC layer through a
// StoreService (in-process transport), with parked gets and deadlines.
#include "collective/rendezvous_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "collective/store_service.h"
#include "net/inproc_transport.h"

namespace iak::collective {
namespace {

TEST(InMemoryStoreTest, GetWaitsForALaterSet) {
  InMemoryStore store;
  std::thread setter([&] {
    // The getter may or may not already wait; either way it must see "v".
    ASSERT_TRUE(store.Set("k", "v", Deadline::After(Duration(1000))).ok());
  });
  StatusOr<std::string> value = store.Get("k", Deadline::After(Duration(10000)));
  setter.join();
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "v");
}

TEST(InMemoryStoreTest, WaitNamesTheMissingKeysAtTheDeadline) {
  InMemoryStore store;
  ASSERT_TRUE(store.Set("e1/0", "a", Deadline::After(Duration(1000))).ok());
  Status status = store.Wait({"e1/0", "e1/1", "e1/2"}, Deadline::After(Duration(50)));
  EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(status.message().find("'e1/1', 'e1/2'"), std::string::npos) << status;
  EXPECT_EQ(status.message().find("'e1/0'"), std::string::npos) << status;
}

TEST(InMemoryStoreTest, ErasePrefixDropsOnlyThatEpoch) {
  InMemoryStore store;
  for (const char* key : {"epoch-1/0", "epoch-1/1", "epoch-10/0", "epoch-2/0"}) {
    ASSERT_TRUE(store.Set(key, "x", Deadline::After(Duration(1000))).ok());
  }
  EXPECT_EQ(store.ErasePrefix("epoch-1/"), 2u);
  EXPECT_EQ(store.Missing({"epoch-1/0", "epoch-10/0", "epoch-2/0"}),
            std::vector<std::string>({"epoch-1/0"}));
}

// A StoreService served on its own thread over an InProcTransport.
class RpcStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<std::unique_ptr<net::Listener>> listener = transport_.Listen("inproc://store");
    ASSERT_TRUE(listener.ok()) << listener.status();
    server_ = std::thread([this, l = std::move(listener).value()]() mutable {
      EXPECT_TRUE(service_.Serve(std::move(l), stop_).ok());
    });
  }
  void TearDown() override {
    stop_ = true;
    server_.join();
  }
  std::unique_ptr<RpcStore> Client() {
    StatusOr<std::unique_ptr<RpcStore>> client = RpcStore::Connect(&transport_, "inproc://store");
    EXPECT_TRUE(client.ok()) << client.status();
    return std::move(client).value();
  }

  net::InProcTransport transport_;
  ManualClock clock_;  // times parked requests; moved by the tests only
  StoreService service_{&clock_};
  std::atomic<bool> stop_{false};
  std::thread server_;
};

TEST_F(RpcStoreTest, SetThenGetFromAnotherClient) {
  auto a = Client();
  auto b = Client();
  ASSERT_TRUE(a->Set("addr/0", std::string("\0\1bytes", 7), Deadline::After(Duration(5000))).ok());
  StatusOr<std::string> value = b->Get("addr/0", Deadline::After(Duration(5000)));
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, std::string("\0\1bytes", 7));
}

TEST_F(RpcStoreTest, ParkedGetIsAnsweredWhenTheKeyIsSet) {
  auto waiter = Client();
  auto setter = Client();
  StatusOr<std::string> value = InternalError("not run");
  std::thread t([&] { value = waiter->Get("late", Deadline::After(Duration(10000))); });
  // Set only once the get is parked, so the parking path is what is tested.
  const Deadline parked_by = Deadline::After(Duration(10000));
  while (service_.parked() == 0 && !parked_by.Expired()) std::this_thread::yield();
  ASSERT_EQ(service_.parked(), 1u);
  ASSERT_TRUE(setter->Set("late", "here", Deadline::After(Duration(5000))).ok());
  t.join();
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "here");
}

TEST_F(RpcStoreTest, MissingKeyIsADeadlineErrorNamingIt) {
  auto client = Client();
  Status status = InternalError("not run");
  std::thread t([&] { status = client->Wait({"g/0", "g/1"}, Deadline::After(Duration(10000))); });
  const Deadline parked_by = Deadline::After(Duration(10000));
  while (service_.parked() == 0 && !parked_by.Expired()) std::this_thread::yield();
  ASSERT_EQ(service_.parked(), 1u);
  // The service times the wait on its clock (9 s of the client's 10 s):
  // past that it answers at its next tick, long before the client's own
  // deadline, with an error naming the keys.
  clock_.Advance(Duration(9000));
  t.join();
  EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded) << status;
  EXPECT_NE(status.message().find("'g/0', 'g/1'"), std::string::npos) << status;
  EXPECT_EQ(service_.parked(), 0u);  // no longer counted once answered
}

TEST(RpcStoreNoServiceTest, NobodyListeningIsADeadlineErrorNotAHang) {
  net::InProcTransport transport;
  StatusOr<std::unique_ptr<RpcStore>> client = RpcStore::Connect(&transport, "inproc://nobody");
  ASSERT_TRUE(client.ok());
  Status status = (*client)->Set("k", "v", Deadline::After(Duration(100)));
  EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded) << status;
  EXPECT_NE(status.message().find("inproc://nobody"), std::string::npos) << status;
}

TEST(StoreServiceTest, RefusesOtherRequestsSoTheHostCanHandleThem) {
  StoreService service;
  net::RpcCall call;
  call.request.mutable_heartbeat();
  EXPECT_FALSE(service.Handle(call, nullptr));
}

}  // namespace
}  // namespace iak::collective
