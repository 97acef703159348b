// InProcTransport specifics: messages queue until a listener appears, and a
// closed listener's address can be listened on again.
#include "net/inproc_transport.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace iak::net {
namespace {

TEST(InProcTransportTest, MessagesQueueBeforeListen) {
  InProcTransport transport;
  auto connection = transport.Connect("inproc://later");
  ASSERT_TRUE(connection.ok());
  ASSERT_TRUE((*connection)->Send(Message{{"first"}}).ok());
  ASSERT_TRUE((*connection)->Send(Message{{"second", "frame"}}).ok());
  auto listener = transport.Listen("inproc://later");
  ASSERT_TRUE(listener.ok()) << listener.status();
  Incoming incoming;
  ASSERT_TRUE((*listener)->Receive(&incoming, Deadline::After(Duration(1000))).ok());
  EXPECT_EQ(incoming.message.frames, std::vector<Frame>{"first"});
  ASSERT_TRUE((*listener)->Receive(&incoming, Deadline::After(Duration(1000))).ok());
  EXPECT_EQ(incoming.message.frames, (std::vector<Frame>{"second", "frame"}));
  ASSERT_TRUE((*listener)->Send(incoming.from, Message{{"reply"}}).ok());
  Message reply;
  ASSERT_TRUE((*connection)->Receive(&reply, Deadline::After(Duration(1000))).ok());
  EXPECT_EQ(reply.frames, std::vector<Frame>{"reply"});
}

TEST(InProcTransportTest, AddressIsExclusiveWhileListened) {
  InProcTransport transport;
  auto first = transport.Listen("inproc://x");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(transport.Listen("inproc://x").status().code(), StatusCode::kAlreadyExists);
  first.value().reset();
  EXPECT_TRUE(transport.Listen("inproc://x").ok());
}

TEST(InProcTransportTest, SendAfterListenerClosedIsUnavailable) {
  InProcTransport transport;
  auto listener = transport.Listen("inproc://gone");
  ASSERT_TRUE(listener.ok());
  auto connection = transport.Connect("inproc://gone");
  ASSERT_TRUE(connection.ok());
  listener.value().reset();
  EXPECT_EQ((*connection)->Send(Message{{"x"}}).code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace iak::net
