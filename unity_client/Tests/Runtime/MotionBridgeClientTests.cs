// MotionBridge tests: the real ClientWebSocket client against a scripted loopback daemon.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using MotionBridge.Client;
using MotionBridge.MessagePack;
using MotionBridge.Protocol;
using NUnit.Framework;

namespace MotionBridge.Tests
{
    [TestFixture]
    public class MotionBridgeClientTests : LoopbackDaemonFixture
    {
        /// <summary>Drains events into <paramref name="seen"/> until one matches; fails after the patience runs out.</summary>
        private static ClientEvent WaitFor(MotionBridgeClient client, List<ClientEvent> seen, Func<ClientEvent, bool> match)
        {
            var deadline = DateTime.UtcNow + Patience;
            while (DateTime.UtcNow < deadline)
            {
                ClientEvent item;
                if (client.TryDequeue(out item))
                {
                    seen.Add(item);
                    if (match(item))
                    {
                        return item;
                    }
                }
                else
                {
                    Thread.Sleep(2);
                }
            }
            Assert.Fail("timed out; events seen: " + Describe(seen));
            return null;
        }

        private static string Describe(List<ClientEvent> events)
        {
            var parts = new List<string>();
            foreach (var e in events)
            {
                parts.Add(e.IsStateChange ? e.State + "(" + e.Reason + ")" : e.Message.Op + ":" + e.Message.Id);
            }
            return string.Join(", ", parts.ToArray());
        }

        private static bool IsReady(ClientEvent e)
        {
            return e.IsStateChange && e.State == ConnectionState.Ready;
        }

        [Test]
        public void Handshake_offers_the_subprotocol_and_identifies_with_the_token()
        {
            var identifies = new BlockingCollection<MessagePackMap>();
            var offered = new BlockingCollection<string[]>();
            var server = Serve(c =>
            {
                offered.Add(c.OfferedSubprotocols);
                identifies.Add(c.Handshake("token"));
                c.Receive();
            });
            var client = Connect(server.Url, "s3cret");
            var events = new List<ClientEvent>();
            WaitFor(client, events, IsReady);
            MessagePackMap identify;
            Assert.IsTrue(identifies.TryTake(out identify, Patience));
            Assert.AreEqual("identify", Text(identify, "op"));
            Assert.AreEqual("s3cret", Text(identify, "token"));
            Assert.AreEqual("nunit/1", Text(identify, "client"));
            object protocol;
            identify.TryGetValue("protocol", out protocol);
            Assert.AreEqual(1L, protocol);
            CollectionAssert.AreEqual(new[] { "motionbridge.v1.msgpack" }, offered.Take());
            Assert.AreEqual(ConnectionState.Ready, client.State);
            Assert.AreEqual("tiny", client.Hello.Model.Name);
            Assert.AreEqual(ConnectionState.Connecting, events[0].State);
        }

        [Test]
        public void Requests_get_unique_ids_and_leave_in_call_order()
        {
            var received = new BlockingCollection<MessagePackMap>();
            var server = Serve(c =>
            {
                c.Handshake("none");
                for (int i = 0; i < 3; i++)
                {
                    received.Add(c.Receive());
                }
                c.Receive();
            });
            var client = Connect(server.Url, "");
            WaitFor(client, new List<ClientEvent>(), IsReady);
            string first = client.Generate(new GenerateRequest { Prompt = "a person waves", Seed = 4, Samples = 2 });
            client.Cancel(first);
            string second = client.Generate(new GenerateRequest { Prompt = "a person jumps" });
            Assert.AreNotEqual(first, second);
            var generate = received.Take();
            var cancel = received.Take();
            var generate2 = received.Take();
            Assert.AreEqual("generate", Text(generate, "op"));
            Assert.AreEqual(first, Text(generate, "id"));
            Assert.AreEqual("unity", Text(generate, "target"));
            Assert.AreEqual("cancel", Text(cancel, "op"));
            Assert.AreEqual(first, Text(cancel, "id"));
            Assert.AreEqual(second, Text(generate2, "id"));
        }

        [Test]
        public void Replies_flow_to_events_and_motion_to_the_frame_buffer()
        {
            var server = Serve(c =>
            {
                c.Handshake("none");
                var generate = c.Receive();
                string id = Text(generate, "id");
                c.Send(TestMessages.Accepted(id, "j1"));
                c.Send(new MessagePackMap().Add("op", "progress").Add("id", id).Add("job", "j1").Add("step", 10L).Add("steps", 20L));
                c.Send(TestMessages.Motion(id, 0, true, false, 0, 4, 4));
                c.Send(TestMessages.Motion(id, 0, false, false, 0, 3, 4));
                c.Send(TestMessages.Motion(id, 0, false, true, 3, 1, 4));
                c.Send(TestMessages.Done(id, 4));
                c.Receive();
            });
            var client = Connect(server.Url, "");
            var events = new List<ClientEvent>();
            WaitFor(client, events, IsReady);
            string request = client.Generate(new GenerateRequest { Prompt = "walk", PreviewEvery = 10, ChunkFrames = 3 });
            var done = WaitFor(client, events, e => e.Message is DoneMessage);
            Assert.AreEqual(request, done.Message.Id);
            Assert.IsFalse(client.IsPending(request));
            var ops = new List<string>();
            foreach (var e in events)
            {
                if (!e.IsStateChange)
                {
                    ops.Add(e.Message.Op);
                }
            }
            CollectionAssert.AreEqual(new[] { "accepted", "progress", "motion", "motion", "motion", "done" }, ops);
            var take = client.Frames.Final(request, 0);
            Assert.AreEqual(4, take.FrameCount);
            Assert.AreEqual(30f, take.Root[9]);
        }

        [Test]
        public void Server_shutdown_reconnects_and_fetches_the_accepted_job_under_the_same_id()
        {
            var fetches = new BlockingCollection<MessagePackMap>();
            var server = Serve(c =>
            {
                c.Handshake("none");
                if (c.Index == 1)
                {
                    var generate = c.Receive();
                    c.Send(TestMessages.Accepted(Text(generate, "id"), "j1"));
                    c.Close(CloseCodes.GoingAway, "shutting down");
                    return;
                }
                var fetch = c.Receive();
                fetches.Add(fetch);
                c.Send(TestMessages.Motion(Text(fetch, "id"), 0, false, true, 0, 2, 2));
                c.Send(TestMessages.Done(Text(fetch, "id"), 2));
                c.Receive();
            });
            var client = Connect(server.Url, "");
            var events = new List<ClientEvent>();
            WaitFor(client, events, IsReady);
            string request = client.Generate(new GenerateRequest { Prompt = "walk" });
            WaitFor(client, events, e => e.Message is AcceptedMessage);
            var dropped = WaitFor(client, events, e => e.IsStateChange && e.State == ConnectionState.Reconnecting);
            Assert.AreEqual(CloseCodes.GoingAway, dropped.CloseCode);
            WaitFor(client, events, IsReady);
            var done = WaitFor(client, events, e => e.Message is DoneMessage);
            Assert.AreEqual(request, done.Message.Id);
            var fetchMessage = fetches.Take();
            Assert.AreEqual("fetch", Text(fetchMessage, "op"));
            Assert.AreEqual("j1", Text(fetchMessage, "job"));
            Assert.AreEqual("unity", Text(fetchMessage, "target"));
            Assert.AreEqual(2, client.Connections);
            Assert.AreEqual(2, client.Frames.Final(request, 0).FrameCount);
        }

        [Test]
        public void A_request_lost_before_acceptance_is_reported_and_the_client_reconnects()
        {
            var server = Serve(c =>
            {
                c.Handshake("none");
                if (c.Index == 1)
                {
                    c.Receive();
                    c.Abort();
                    return;
                }
                c.Receive();
            });
            var client = Connect(server.Url, "");
            var events = new List<ClientEvent>();
            WaitFor(client, events, IsReady);
            string request = client.Generate(new GenerateRequest { Prompt = "walk" });
            var lost = WaitFor(client, events, e => e.Message is ErrorMessage);
            Assert.AreEqual(request, lost.Message.Id);
            Assert.AreEqual(MotionBridgeClient.ConnectionLostCode, ((ErrorMessage)lost.Message).Code);
            WaitFor(client, events, IsReady);
            Assert.AreEqual(2, server.Accepted);
        }

        [Test]
        public void A_refused_token_fails_for_good_without_retrying()
        {
            var server = Serve(c =>
            {
                c.Send(TestMessages.Hello("token"));
                c.Receive();
                c.Close(CloseCodes.Unauthorized, "bad token");
            });
            var client = Connect(server.Url, "wrong");
            var events = new List<ClientEvent>();
            var failed = WaitFor(client, events, e => e.IsStateChange && e.State == ConnectionState.Failed);
            Assert.AreEqual(CloseCodes.Unauthorized, failed.CloseCode);
            StringAssert.Contains("token", failed.Reason);
            Thread.Sleep(300);
            Assert.AreEqual(1, server.Accepted, "a refused token must not be retried in a loop");
            Assert.AreEqual(ConnectionState.Failed, client.State);
        }

        [Test]
        public void An_unreachable_daemon_is_retried_with_growing_delays()
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            var client = Connect(new Uri("ws://127.0.0.1:" + port + "/v1"), "");
            var events = new List<ClientEvent>();
            var delays = new List<string>();
            while (delays.Count < 4)
            {
                var e = WaitFor(client, events, x => x.IsStateChange && x.Reason.Contains("retrying in"));
                delays.Add(e.Reason.Substring(e.Reason.LastIndexOf("retrying in", StringComparison.Ordinal)));
            }
            CollectionAssert.AreEqual(
                new[] { "retrying in 0.0 s", "retrying in 0.0 s", "retrying in 0.1 s", "retrying in 0.1 s" }, delays);
            Assert.GreaterOrEqual(client.Attempt, 4);
            Assert.IsNotNull(client.NextAttemptUtc);
            Assert.AreEqual(0, client.Connections);
            client.Dispose();
            WaitFor(client, events, x => x.IsStateChange && x.State == ConnectionState.Disconnected);
        }

        [Test]
        public void A_malformed_message_is_reported_without_dropping_the_connection()
        {
            var server = Serve(c =>
            {
                c.Handshake("none");
                c.SendRaw(new byte[] { 0xc1 });
                c.Send(new MessagePackMap().Add("op", "error").Add("id", "x").Add("code", "busy").Add("message", "later"));
                c.Receive();
            });
            var client = Connect(server.Url, "");
            var events = new List<ClientEvent>();
            WaitFor(client, events, IsReady);
            var bad = WaitFor(client, events, e => e.Message is ErrorMessage);
            Assert.AreEqual(MotionBridgeClient.BadReplyCode, ((ErrorMessage)bad.Message).Code);
            var next = WaitFor(client, events, e => e.Message is ErrorMessage);
            Assert.AreEqual(ErrorCodes.Busy, ((ErrorMessage)next.Message).Code);
            Assert.AreEqual(ConnectionState.Ready, client.State);
        }

        [Test]
        public void Without_auto_reconnect_a_drop_ends_open_requests_and_disconnects()
        {
            var server = Serve(c =>
            {
                c.Handshake("none");
                var generate = c.Receive();
                c.Send(TestMessages.Accepted(Text(generate, "id"), "j1"));
                c.Close(CloseCodes.GoingAway, "shutting down");
            });
            var client = DisposeAfterTest(new MotionBridgeClient(new MotionBridgeClientOptions { Url = server.Url, AutoReconnect = false }));
            client.Start();
            var events = new List<ClientEvent>();
            WaitFor(client, events, IsReady);
            string request = client.Generate(new GenerateRequest { Prompt = "walk" });
            var lost = WaitFor(client, events, e => e.Message is ErrorMessage);
            Assert.AreEqual(request, lost.Message.Id);
            Assert.AreEqual(MotionBridgeClient.ConnectionLostCode, ((ErrorMessage)lost.Message).Code);
            WaitFor(client, events, e => e.IsStateChange && e.State == ConnectionState.Disconnected);
            Assert.AreEqual(1, server.Accepted);
        }

        [Test]
        public void Requests_before_ready_and_invalid_requests_throw_at_once()
        {
            var client = DisposeAfterTest(new MotionBridgeClient(new MotionBridgeClientOptions()));
            Assert.Throws<InvalidOperationException>(() => client.Generate(new GenerateRequest { Prompt = "walk" }));
            Assert.Throws<ArgumentException>(() => client.Generate(new GenerateRequest { Prompt = "" }));
            Assert.Throws<ArgumentException>(
                () => new MotionBridgeClient(new MotionBridgeClientOptions { Url = new Uri("http://127.0.0.1:8747/v1") }));
        }

        [Test]
        public void Closing_returns_at_once_while_the_daemon_has_not_answered_the_upgrade()
        {
            // Mono's ClientWebSocket ignores cancellation while it waits for the HTTP upgrade answer.
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var client = Connect(new Uri("ws://127.0.0.1:" + ((IPEndPoint)listener.LocalEndpoint).Port + "/v1"), "");
            var accepting = listener.AcceptTcpClientAsync();
            Assert.IsTrue(accepting.Wait(Patience), "the client never connected");
            var daemon = accepting.Result;
            try
            {
                var watch = System.Diagnostics.Stopwatch.StartNew();
                var closing = client.CloseAsync(false);
                Assert.Less(watch.ElapsedMilliseconds, 250, "closing blocked the caller");
                Assert.AreSame(closing, client.CloseAsync(false), "closing twice is the same close");
                watch.Restart();
                client.Close(false, TimeSpan.FromMilliseconds(300));
                Assert.Less(watch.ElapsedMilliseconds, 1000, "Close waits at most its budget, in all");
                daemon.Close();
                Assert.IsTrue(closing.Wait(Patience), "the connection loop never ended");
                Assert.AreEqual(ConnectionState.Disconnected, client.State);
            }
            finally
            {
                daemon.Close();
                listener.Stop();
            }
        }

        [Test]
        public void Closing_for_a_reload_sends_going_away()
        {
            var closes = new BlockingCollection<int>();
            var server = Serve(c =>
            {
                c.Handshake("none");
                c.Receive();
                closes.Add(c.ClientCloseCode);
            });
            var client = Connect(server.Url, "");
            WaitFor(client, new List<ClientEvent>(), IsReady);
            client.Close(true, TimeSpan.FromSeconds(2));
            int code;
            Assert.IsTrue(closes.TryTake(out code, Patience));
            Assert.AreEqual(CloseCodes.GoingAway, code);
        }
    }
}
