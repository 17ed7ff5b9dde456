// MotionBridge editor tests: the window's connection and drawing against a scripted loopback daemon.
using System;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using MotionBridge.Client;
using MotionBridge.Editor;
using MotionBridge.Tests;
using NUnit.Framework;
using UnityEngine;

namespace MotionBridge.EditorTests
{
    [TestFixture]
    public class MotionBridgeConnectionTests : LoopbackWindowFixture
    {
        [Test]
        public void A_take_arriving_between_layout_and_repaint_is_drawn_from_the_next_layout()
        {
            var sendMotion = new ManualResetEventSlim();
            ConnectTo(c =>
            {
                c.Handshake("none");
                object id;
                c.Receive().TryGetValue("id", out id);
                c.Send(TestMessages.Accepted((string)id, "j1"));
                sendMotion.Wait(EditorFixtures.Patience);
                c.Send(TestMessages.Motion((string)id, 0, true, false, 0, 4, 4));
                c.Receive();
            });
            var state = MotionBridgeState.instance;
            EditorFixtures.UpdateUntil(() => MotionBridgeConnection.State == ConnectionState.Ready, "ready");
            MotionBridgeConnection.Generate();
            EditorFixtures.UpdateUntil(() => state.activeJob == "j1", "accepted");

            var window = ScriptableObject.CreateInstance<MotionBridgeWindow>();
            window.SendEvent(new Event { type = EventType.Layout });
            // The receive thread files the preview while the frame is half drawn; no editor update runs in between.
            sendMotion.Set();
            var deadline = DateTime.UtcNow + EditorFixtures.Patience;
            while (MotionBridgeConnection.Client.Frames.Latest(state.activeRequestId, 0) == null && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(2);
            }
            Assert.IsNotNull(MotionBridgeConnection.CurrentTake(0), "the preview never arrived");
            Assert.DoesNotThrow(() => window.SendEvent(new Event { type = EventType.Repaint }));
            window.SendEvent(new Event { type = EventType.Layout });
            Assert.DoesNotThrow(() => window.SendEvent(new Event { type = EventType.Repaint }));
        }

        [Test]
        public void A_failing_update_is_reported_and_the_pump_keeps_running()
        {
            ConnectTo(c =>
            {
                c.Handshake("none");
                c.Receive();
            });
            Action broken = () => { throw new InvalidOperationException("a subscriber broke"); };
            MotionBridgeConnection.Changed += broken;
            try
            {
                EditorFixtures.UpdateUntil(() => MotionBridgeState.instance.statusLine.Contains("a subscriber broke"), "the error on the status line");
            }
            finally
            {
                MotionBridgeConnection.Changed -= broken;
            }
            EditorFixtures.UpdateUntil(() => MotionBridgeConnection.State == ConnectionState.Ready, "ready after the failure");
        }

        [Test]
        public void Disconnect_returns_at_once_while_the_daemon_has_not_answered()
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            try
            {
                MotionBridgeState.instance.ServerUrl = "ws://127.0.0.1:" + ((IPEndPoint)listener.LocalEndpoint).Port + "/v1";
                MotionBridgeConnection.Connect();
                var accepting = listener.AcceptTcpClientAsync();
                Assert.IsTrue(accepting.Wait(EditorFixtures.Patience), "the window never connected");
                using (accepting.Result)
                {
                    var watch = System.Diagnostics.Stopwatch.StartNew();
                    MotionBridgeConnection.Disconnect();
                    Assert.Less(watch.ElapsedMilliseconds, 250, "Disconnect froze the editor");
                    Assert.AreEqual(ConnectionState.Disconnected, MotionBridgeConnection.State);
                }
            }
            finally
            {
                listener.Stop();
            }
        }
    }
}
