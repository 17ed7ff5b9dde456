// MotionBridge editor tests: live mode in the window: real-time playback on the character, debounced prompt edits,
// Record, and the character's own pose back whenever live stops or the scene could be recorded.
using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading;
using MotionBridge.Client;
using MotionBridge.Editor;
using MotionBridge.MessagePack;
using MotionBridge.Protocol;
using MotionBridge.Tests;
using NUnit.Framework;
using UnityEditor;
using UnityEngine;
using UnityStandIn;

namespace MotionBridge.EditorTests
{
    [TestFixture]
    public class LiveModeTests
    {
        /// <summary>Frames the scripted daemon streams at once: one second, so playback runs for a second before it holds.</summary>
        private const int StreamedFrames = 30;

        private LoopbackWebSocketServer _server;
        private LoopbackConnection _connection;
        private Transform _hips;
        private readonly BlockingCollection<MessagePackMap> _received = new BlockingCollection<MessagePackMap>();
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly BlockingCollection<double> _receivedAt = new BlockingCollection<double>();

        [SetUp]
        public void StartLiveOnACharacter()
        {
            EditorFixtures.LoadDomain();
            EditorFixtures.ResetState();
            _server = new LoopbackWebSocketServer(c =>
            {
                _connection = c;
                c.HandshakeServing(Capabilities.Live);
                var start = c.Receive();
                _received.Add(start);
                object id;
                start.TryGetValue("id", out id);
                c.Send(TestMessages.Accepted((string)id, "live-j"));
                c.Send(TestMessages.LiveMotion((string)id, 0, StreamedFrames));
                while (true)
                {
                    var message = c.Receive();
                    if (message == null)
                    {
                        return;
                    }
                    _receivedAt.Add(_clock.Elapsed.TotalSeconds);
                    _received.Add(message);
                }
            });
            var state = MotionBridgeState.instance;
            state.ServerUrl = _server.Url.ToString();
            state.target = EditorFixtures.Character(out _hips);
            state.skeleton = EditorFixtures.Skeleton();
            state.prompt = "a person jogs";
            state.liveArea = 2.5f;
            MotionBridgeConnection.Connect();
            EditorFixtures.UpdateUntil(() => state.statusLine.StartsWith("connected to", StringComparison.Ordinal), "ready");
            Assert.IsNull(MotionBridgeLive.Unavailable());
            MotionBridgeLive.Start();
            Assert.IsTrue(MotionBridgeLive.IsRunning, MotionBridgeState.instance.statusLine);
            var liveStart = Next("live_start");
            Assert.AreEqual(2.5, EditorFixtures.Field(liveStart, "area"));
            Assert.AreEqual("a person jogs", EditorFixtures.Field(liveStart, "prompt"));
            EditorFixtures.UpdateUntil(() => MotionBridgePlayback.LiveFrame >= 0, "the first live frame on the character");
        }

        [TearDown]
        public void Reset()
        {
            EditorFixtures.ResetState();
            _server.Dispose();
            while (_received.Count > 0)
            {
                _received.Take();
            }
            while (_receivedAt.Count > 0)
            {
                _receivedAt.Take();
            }
        }

        private static void UpdateFor(double seconds)
        {
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed.TotalSeconds < seconds)
            {
                EditorActions.Update();
                Thread.Sleep(5);
            }
        }

        private MessagePackMap Next(string op)
        {
            MessagePackMap message;
            Assert.IsTrue(_received.TryTake(out message, EditorFixtures.Patience), "the daemon got no " + op);
            Assert.AreEqual(op, EditorFixtures.Field(message, "op"));
            return message;
        }

        /// <summary>Root x of live frame f as the scripted daemon sent it (one chunk from frame 0, see TestMessages.Motion).</summary>
        private static float RootX(int frame)
        {
            return 3 * frame;
        }

        private void AssertShowsFrame(int frame, string when)
        {
            Assert.AreEqual(RootX(frame), _hips.localPosition.x, 1e-6, when);
        }

        private void AssertOwnPose(string when)
        {
            Assert.AreEqual(EditorFixtures.HipsRest.x, _hips.localPosition.x, 1e-6, when);
            Assert.AreEqual(EditorFixtures.HipsRest.y, _hips.localPosition.y, 1e-6, when);
            Assert.AreEqual(EditorFixtures.HipsRest.z, _hips.localPosition.z, 1e-6, when);
        }

        [Test]
        public void The_character_plays_the_stream_in_real_time()
        {
            AssertShowsFrame(MotionBridgePlayback.LiveFrame, "the frame under the live playhead is on the character");
            var watch = Stopwatch.StartNew();
            UpdateFor(0.3);
            double elapsed = watch.Elapsed.TotalSeconds;
            int frame = MotionBridgePlayback.LiveFrame;
            Assert.GreaterOrEqual(frame, (int)(0.25 * 30), "playback advanced with the clock");
            Assert.LessOrEqual(frame, (int)Math.Ceiling((elapsed + 0.1) * 30), "playback never runs ahead of the clock");
            AssertShowsFrame(frame, "after 0.3 s");
            UpdateFor(1.2);
            Assert.AreEqual(StreamedFrames - 1, MotionBridgePlayback.LiveFrame, "a starved stream holds its newest frame");
        }

        [Test]
        public void Prompt_edits_are_sent_once_after_the_text_rests()
        {
            var state = MotionBridgeState.instance;
            state.prompt = "a person wal";
            UpdateFor(0.15);
            state.prompt = "a person walks ";
            double edited = _clock.Elapsed.TotalSeconds;
            UpdateFor(0.9);
            var prompt = Next("live_prompt");
            Assert.AreEqual("a person walks", EditorFixtures.Field(prompt, "prompt"), "the text as it rested, trimmed");
            Assert.AreEqual(MotionBridgeLive.Session.Id, EditorFixtures.Field(prompt, "id"));
            double sentAfter = _receivedAt.Take() - edited;
            Assert.GreaterOrEqual(sentAfter, MotionBridgeLive.PromptDebounceSeconds - 0.02, "sent before the text rested");
            MessagePackMap more;
            Assert.IsFalse(_received.TryTake(out more, TimeSpan.FromMilliseconds(100)), "only one live_prompt for one edit");
        }

        [Test]
        public void Record_bakes_the_last_seconds_up_to_the_frame_on_screen()
        {
            UpdateFor(0.5);
            var state = MotionBridgeState.instance;
            state.recordSeconds = 0.2f;
            string path = MotionBridgeLive.Record();
            StringAssert.StartsWith("Assets/MotionBridge/live_a_person_jogs_seed0", path);
            StringAssert.StartsWith("recorded 6 frames (0.2 s)", state.statusLine);
        }

        [Test]
        public void Stopping_sends_live_stop_and_gives_the_character_its_own_pose_back()
        {
            UpdateFor(0.1);
            string id = MotionBridgeLive.Session.Id;
            MotionBridgeLive.Stop();
            Assert.IsFalse(MotionBridgeLive.IsRunning);
            AssertOwnPose("right after Live is turned off");
            Assert.AreEqual(id, EditorFixtures.Field(Next("live_stop"), "id"));
            UpdateFor(0.05);
            AssertOwnPose("nothing moves it afterwards");
        }

        [Test]
        public void Saving_the_scene_saves_the_characters_own_pose_and_live_comes_back()
        {
            UpdateFor(0.1);
            EditorActions.SaveScene("Assets/Level.unity");
            AssertOwnPose("while the scene is written");
            EditorActions.Update();
            AssertShowsFrame(MotionBridgePlayback.LiveFrame, "the next update shows the live frame again");
            Assert.IsTrue(MotionBridgeLive.IsRunning);
        }

        [Test]
        public void Entering_play_mode_stops_live_and_starts_from_the_characters_own_pose()
        {
            EditorActions.ChangePlayMode(PlayModeStateChange.ExitingEditMode);
            AssertOwnPose("when play mode copies the scene");
            Assert.IsFalse(MotionBridgeLive.IsRunning);
            Next("live_stop");
        }

        [Test]
        public void A_script_reload_closes_the_session_and_restores_the_pose()
        {
            EditorActions.BeforeAssemblyReload();
            AssertOwnPose("before the domain unloads");
            Assert.IsFalse(MotionBridgeLive.IsRunning);
            var deadline = DateTime.UtcNow + EditorFixtures.Patience;
            while (_connection.ClientCloseCode == 0 && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(5);
            }
            Assert.AreEqual(CloseCodes.GoingAway, _connection.ClientCloseCode, "the daemon sees the editor going away and stops the session");
        }

        [Test]
        public void The_daemon_ending_the_session_is_shown_and_the_pose_restored()
        {
            MotionBridgeState.instance.Store(EditorFixtures.WalkingTake(10));
            _connection.Send(new MessagePackMap().Add("op", "error").Add("id", MotionBridgeLive.Session.Id)
                .Add("code", "model_error").Add("message", "out of memory"));
            EditorFixtures.UpdateUntil(() => !MotionBridgeLive.IsRunning, "the session's end");
            Assert.AreEqual("live ended: model_error: out of memory", MotionBridgeState.instance.statusLine);
            AssertOwnPose("after the session ended");
            UpdateFor(0.05);
            AssertOwnPose("the last result stays off the character until Play");
        }

        [Test]
        public void The_window_draws_live_mode_in_every_pass()
        {
            var window = ScriptableObject.CreateInstance<MotionBridgeWindow>();
            window.SendEvent(new Event { type = EventType.Layout });
            Assert.DoesNotThrow(() => window.SendEvent(new Event { type = EventType.Repaint }));
            StringAssert.Contains("frames received", MotionBridgeLive.Describe());
        }
    }
}
