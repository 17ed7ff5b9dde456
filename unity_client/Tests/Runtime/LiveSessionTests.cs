// MotionBridge tests: live sessions and v1.1 capability checks of the real client against a scripted loopback daemon.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using MotionBridge.Client;
using MotionBridge.MessagePack;
using MotionBridge.Protocol;
using NUnit.Framework;

namespace MotionBridge.Tests
{
    [TestFixture]
    public class LiveSessionTests : LoopbackDaemonFixture
    {
        private MotionBridgeClient Connect(Action<LoopbackConnection> script)
        {
            var client = Connect(Serve(script).Url, "");
            WaitUntil(() => client.State == ConnectionState.Ready, "ready");
            return client;
        }

        [Test]
        public void A_live_session_streams_into_its_ring_follows_prompts_and_ends_with_done()
        {
            var received = new BlockingCollection<MessagePackMap>();
            var script = new ManualResetEventSlim();
            var subscribed = new ManualResetEventSlim();
            var client = Connect(c =>
            {
                c.HandshakeServing(Capabilities.Live);
                var start = c.Receive();
                received.Add(start);
                string id = Text(start, "id");
                subscribed.Wait(Patience);
                c.Send(TestMessages.Accepted(id, "live-j"));
                c.Send(TestMessages.LiveMotion(id, 0, 4));
                c.Send(TestMessages.LiveMotion(id, 4, 4));
                var prompt = c.Receive();
                received.Add(prompt);
                c.Send(new MessagePackMap().Add("op", "live_state").Add("id", id).Add("prompt", Text(prompt, "prompt")).Add("frame", 10L));
                c.Send(TestMessages.LiveMotion(id, 8, 4));
                var stop = c.Receive();
                received.Add(stop);
                c.Send(new MessagePackMap().Add("op", "done").Add("id", id).Add("job", "live-j").Add("samples", 1L)
                    .Add("frames", 12L).Add("seconds", 0.4).Add("cached", false));
                script.Wait(Patience);
            });
            int framesSeen = 0;
            var session = client.StartLive(new LiveRequest { Prompt = "a person jogs", Area = 3 });
            session.FramesReceived += (s, start, count) => Interlocked.Add(ref framesSeen, count);
            subscribed.Set();
            var start0 = received.Take();
            Assert.AreEqual("live_start", Text(start0, "op"));
            Assert.AreEqual(session.Id, Text(start0, "id"));
            WaitUntil(() => session.Frames.Received == 8, "the first 8 frames");
            Assert.AreEqual("live-j", session.Job);
            Assert.IsTrue(client.IsPending(session.Id));

            session.ChangePrompt("now he walks");
            var prompt0 = received.Take();
            Assert.AreEqual("live_prompt", Text(prompt0, "op"));
            Assert.AreEqual(session.Id, Text(prompt0, "id"));
            WaitUntil(() => session.State != null && session.Frames.Received == 12, "live_state and 4 more frames");
            Assert.AreEqual("now he walks", session.State.Prompt);
            Assert.AreEqual(10, session.State.Frame);
            Assert.AreEqual("now he walks", session.Prompt);

            session.Stop();
            var stop0 = received.Take();
            Assert.AreEqual("live_stop", Text(stop0, "op"));
            Assert.AreEqual(session.Id, Text(stop0, "id"));
            WaitUntil(() => !session.IsRunning, "done");
            Assert.AreEqual(12, session.Done.Frames);
            Assert.IsNull(session.Error);
            Assert.IsFalse(client.IsPending(session.Id));
            Assert.IsNull(client.Frames.Latest(session.Id, 0), "live frames never go to the generate buffer");
            WaitUntil(() => Volatile.Read(ref framesSeen) == 12, "FramesReceived for every frame");
            Assert.Throws<InvalidOperationException>(() => session.ChangePrompt("too late"));
            script.Set();
        }

        [Test]
        public void A_second_live_start_refused_busy_ends_only_that_session()
        {
            var client = Connect(c =>
            {
                c.HandshakeServing(Capabilities.Live);
                string first = Text(c.Receive(), "id");
                c.Send(TestMessages.Accepted(first, "live-j"));
                string second = Text(c.Receive(), "id");
                c.Send(new MessagePackMap().Add("op", "error").Add("id", second).Add("code", "busy")
                    .Add("message", "one live session per connection"));
                c.Send(TestMessages.LiveMotion(first, 0, 2));
                c.Receive();
            });
            var first0 = client.StartLive(new LiveRequest { Prompt = "walk" });
            var second0 = client.StartLive(new LiveRequest { Prompt = "run" });
            WaitUntil(() => !second0.IsRunning, "the busy error");
            Assert.AreEqual(ErrorCodes.Busy, second0.Error.Code);
            WaitUntil(() => first0.Frames.Received == 2, "the first session's frames");
            Assert.IsTrue(first0.IsRunning);
        }

        [Test]
        public void A_refused_live_prompt_leaves_the_session_running()
        {
            var client = Connect(c =>
            {
                c.HandshakeServing(Capabilities.Live);
                string id = Text(c.Receive(), "id");
                c.Send(TestMessages.Accepted(id, "live-j"));
                c.Receive();
                c.Send(new MessagePackMap().Add("op", "error").Add("id", id).Add("code", "too_long")
                    .Add("message", "prompt has 3000 characters"));
                c.Send(TestMessages.LiveMotion(id, 0, 2));
                c.Receive();
            });
            var session = client.StartLive(new LiveRequest { Prompt = "walk" });
            WaitUntil(() => session.Job != null, "accepted");
            session.ChangePrompt("a very long prompt");
            WaitUntil(() => session.Frames.Received == 2, "frames after the refusal");
            Assert.IsTrue(session.IsRunning);
            Assert.IsTrue(client.IsPending(session.Id));
            var events = new List<ClientEvent>();
            ClientEvent item;
            while (client.TryDequeue(out item))
            {
                events.Add(item);
            }
            Assert.IsTrue(events.Exists(e => e.Message is ErrorMessage && ((ErrorMessage)e.Message).Code == ErrorCodes.TooLong),
                "the refusal is reported");
        }

        [Test]
        public void A_gap_in_the_live_stream_stops_the_session_with_a_bad_reply()
        {
            var stops = new BlockingCollection<MessagePackMap>();
            var client = Connect(c =>
            {
                c.HandshakeServing(Capabilities.Live);
                string id = Text(c.Receive(), "id");
                c.Send(TestMessages.Accepted(id, "live-j"));
                c.Send(TestMessages.LiveMotion(id, 0, 3));
                c.Send(TestMessages.LiveMotion(id, 5, 3));
                stops.Add(c.Receive());
                c.Receive();
            });
            var session = client.StartLive(new LiveRequest { Prompt = "walk" });
            MessagePackMap stop;
            Assert.IsTrue(stops.TryTake(out stop, Patience), "the client never stopped the broken stream");
            Assert.AreEqual("live_stop", Text(stop, "op"));
            WaitUntil(() => !session.IsRunning, "the session's end");
            Assert.AreEqual(MotionBridgeClient.BadReplyCode, session.Error.Code);
            Assert.AreEqual(3, session.Frames.Received);
        }

        [Test]
        public void A_dropped_connection_ends_the_live_session_and_nothing_is_fetched_after_the_reconnect()
        {
            var afterReconnect = new BlockingCollection<MessagePackMap>();
            var client = Connect(c =>
            {
                c.HandshakeServing(Capabilities.Live);
                if (c.Index == 1)
                {
                    string id = Text(c.Receive(), "id");
                    c.Send(TestMessages.Accepted(id, "live-j"));
                    c.Send(TestMessages.LiveMotion(id, 0, 2));
                    Thread.Sleep(50);
                    c.Abort();
                    return;
                }
                afterReconnect.Add(c.Receive());
            });
            var session = client.StartLive(new LiveRequest { Prompt = "walk" });
            WaitUntil(() => !session.IsRunning, "the session's end");
            Assert.AreEqual(MotionBridgeClient.ConnectionLostCode, session.Error.Code);
            WaitUntil(() => client.State == ConnectionState.Ready && client.Connections == 2, "the reconnect");
            client.RequestStatus();
            MessagePackMap first;
            Assert.IsTrue(afterReconnect.TryTake(out first, Patience));
            Assert.AreEqual("status", Text(first, "op"), "the first message after the reconnect is ours, not a fetch of the live job");
        }

        [Test]
        public void Parts_the_daemon_does_not_list_are_refused_before_sending()
        {
            var client = Connect(c =>
            {
                c.HandshakeServing(Capabilities.Timeline);
                c.Receive();
            });
            var directed = new GenerateRequest { Prompt = "walk", Start = StartMotion.FromJob("j1", 0) };
            StringAssert.Contains("\"constraints\"", Assert.Throws<ArgumentException>(() => client.Generate(directed)).Message);
            StringAssert.Contains("live", Assert.Throws<InvalidOperationException>(
                () => client.StartLive(new LiveRequest { Prompt = "walk" })).Message);
            var timeline = new GenerateRequest { Segments = new List<TimelineSegment> { new TimelineSegment("walk", 2) } };
            Assert.IsNotNull(client.Generate(timeline), "timeline is listed, so it goes out");
        }
    }
}
