// MotionBridge editor tests: the window's Directing section (continue from, timeline, root path) on the wire.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using MotionBridge.Client;
using MotionBridge.Editor;
using MotionBridge.MessagePack;
using MotionBridge.Protocol;
using MotionBridge.Tests;
using NUnit.Framework;
using UnityEditor;
using UnityEngine;

namespace MotionBridge.EditorTests
{
    [TestFixture]
    public class DirectingTests : LoopbackWindowFixture
    {
        private readonly BlockingCollection<MessagePackMap> _requests = new BlockingCollection<MessagePackMap>();

        [SetUp]
        public void ForgetRequests()
        {
            while (_requests.Count > 0)
            {
                _requests.Take();
            }
        }

        /// <summary>A daemon listing <paramref name="capabilities"/> (null: a v1 daemon) that files every request and answers generate with a 2-segment clip.</summary>
        private void ConnectToDaemonListing(string[] capabilities)
        {
            ConnectTo(c =>
            {
                if (capabilities == null)
                {
                    c.Handshake("none");
                }
                else
                {
                    c.HandshakeServing(capabilities);
                }
                while (true)
                {
                    var request = c.Receive();
                    if (request == null)
                    {
                        return;
                    }
                    _requests.Add(request);
                    object id;
                    request.TryGetValue("id", out id);
                    c.Send(TestMessages.Accepted((string)id, "j2"));
                    c.Send(TestMessages.Motion((string)id, 0, false, true, 0, 4, 4));
                    c.Send(TestMessages.Done((string)id, 4).Add("segments", new List<object>
                    {
                        new MessagePackMap().Add("start", 0L).Add("count", 3L),
                        new MessagePackMap().Add("start", 3L).Add("count", 1L),
                    }));
                }
            });
            // Until the ready event is handled, it could still replace the skeleton a test sets.
            EditorFixtures.UpdateUntil(() => MotionBridgeState.instance.statusLine.StartsWith("connected to", StringComparison.Ordinal), "ready");
        }

        private MessagePackMap GenerateAndCapture()
        {
            var state = MotionBridgeState.instance;
            MotionBridgeConnection.Generate();
            Assert.IsTrue(state.generating, "Generate did not send: " + state.statusLine);
            MessagePackMap request;
            Assert.IsTrue(_requests.TryTake(out request, EditorFixtures.Patience), "the daemon got no request");
            EditorFixtures.UpdateUntil(() => !state.generating, "done");
            return request;
        }

        private static Quaternion Yaw(double degrees)
        {
            double half = degrees * Math.PI / 360;
            return new Quaternion(0f, (float)Math.Sin(half), 0f, (float)Math.Cos(half));
        }

        private static void DrawAFrame()
        {
            var window = ScriptableObject.CreateInstance<MotionBridgeWindow>();
            window.SendEvent(new Event { type = EventType.Layout });
            window.SendEvent(new Event { type = EventType.Repaint });
        }

        [Test]
        public void Timeline_path_and_continuation_go_out_in_the_characters_space_and_segments_come_back()
        {
            ConnectToDaemonListing(new[] { Capabilities.Constraints, Capabilities.Timeline });
            var state = MotionBridgeState.instance;
            Transform hips;
            state.target = EditorFixtures.Character(out hips);
            state.target.transform.position = new Vector3(1f, 0f, 2f);
            state.target.transform.rotation = Yaw(90);
            state.skeleton = EditorFixtures.Skeleton();
            state.Store(EditorFixtures.WalkingTake(6));
            state.continueFrom = ContinueFrom.LastResult;
            state.useTimeline = true;
            state.timeline.Add(new TimelineRow { prompt = "a man strolls", seconds = 2f });
            state.timeline.Add(new TimelineRow { prompt = " he sits down ", seconds = 1.5f });
            state.usePath = true;
            var marker = new GameObject("Marker").transform;
            marker.position = new Vector3(1f, 0.3f, 4f);
            marker.rotation = Yaw(0);
            state.path.Add(new PathRow { point = marker, time = 1.25f, facing = true });
            DrawAFrame();

            var request = GenerateAndCapture();
            Assert.IsFalse(request.ContainsKey("prompt"), "the timeline replaces the prompt");
            Assert.AreEqual(3.5, EditorFixtures.Field(request, "seconds"));
            var segments = (List<object>)EditorFixtures.Field(request, "segments");
            Assert.AreEqual("he sits down", EditorFixtures.Field((MessagePackMap)segments[1], "prompt"));
            Assert.AreEqual(1.5, EditorFixtures.Field((MessagePackMap)segments[1], "seconds"));
            var start = (MessagePackMap)EditorFixtures.Field(request, "start");
            Assert.AreEqual("j1", EditorFixtures.Field(start, "job"), "the shown result continues by its job id");
            Assert.AreEqual(0L, EditorFixtures.Field(start, "sample"));
            var point = (MessagePackMap)((List<object>)EditorFixtures.Field(request, "path"))[0];
            Assert.AreEqual(1.25, (double)EditorFixtures.Field(point, "time"), 1e-6);
            var position = (List<object>)EditorFixtures.Field(point, "position");
            // The marker is 2 m along +Z from a character facing +X: on its left, −X in its own space.
            Assert.AreEqual(-2.0, (double)position[0], 1e-5);
            Assert.AreEqual(0.0, (double)position[1]);
            Assert.AreEqual(0.0, (double)position[2], 1e-5);
            Assert.AreEqual(-Math.PI / 2, (double)EditorFixtures.Field(point, "facing"), 1e-5);

            Assert.AreEqual(2, state.segments.Count);
            Assert.AreEqual(3, state.segments[1].start);
            DrawAFrame();
        }

        [Test]
        public void Continuing_from_the_character_sends_the_pose_it_stands_in()
        {
            ConnectToDaemonListing(new[] { Capabilities.Constraints });
            var state = MotionBridgeState.instance;
            Transform hips;
            state.target = EditorFixtures.Character(out hips);
            state.skeleton = EditorFixtures.Skeleton();
            state.continueFrom = ContinueFrom.AvatarPose;
            var request = GenerateAndCapture();
            var motion = (MessagePackMap)EditorFixtures.Field((MessagePackMap)EditorFixtures.Field(request, "start"), "motion");
            Assert.AreEqual(1L, EditorFixtures.Field(motion, "frames"));
            CollectionAssert.AreEqual(new[] { 0f, 1f, 0f }, LittleEndianFloats.FromBytes((byte[])EditorFixtures.Field(motion, "root")));
            CollectionAssert.AreEqual(new[] { 0f, 0f, 0f, 1f, 0f, 0f, 0f, 1f },
                LittleEndianFloats.FromBytes((byte[])EditorFixtures.Field(motion, "rotations")));
        }

        [Test]
        public void Continuing_from_a_clip_sends_its_last_frames_and_leaves_the_character_as_it_was()
        {
            ConnectToDaemonListing(new[] { Capabilities.Constraints });
            var state = MotionBridgeState.instance;
            Transform hips;
            state.target = EditorFixtures.Character(out hips);
            state.skeleton = EditorFixtures.Skeleton();
            using (var source = SourceAvatar.Build(state.skeleton))
            {
                state.continueClip = ClipBaker.Bake(EditorFixtures.WalkingTake(12), source, false);
            }
            state.continueFrom = ContinueFrom.Clip;
            var request = GenerateAndCapture();
            var motion = (MessagePackMap)EditorFixtures.Field((MessagePackMap)EditorFixtures.Field(request, "start"), "motion");
            Assert.AreEqual((long)MotionBridgeDirecting.StartFrames, EditorFixtures.Field(motion, "frames"));
            var root = LittleEndianFloats.FromBytes((byte[])EditorFixtures.Field(motion, "root"));
            Assert.AreEqual(3 * MotionBridgeDirecting.StartFrames, root.Length);
            for (int k = 0; k < MotionBridgeDirecting.StartFrames; k++)
            {
                Assert.AreEqual(0.5f + 0.1f * (7 + k), root[3 * k], 1e-5, "frame " + (7 + k) + " of 12");
            }
            Assert.AreEqual(EditorFixtures.HipsRest.x, hips.localPosition.x, 1e-6, "the character is put back");
            Assert.AreEqual(EditorFixtures.HipsRest.y, hips.localPosition.y, 1e-6);
        }

        [Test]
        public void A_daemon_without_the_capability_gets_nothing_and_the_window_says_why()
        {
            ConnectToDaemonListing(null);
            var state = MotionBridgeState.instance;
            Transform hips;
            state.target = EditorFixtures.Character(out hips);
            state.usePath = true;
            state.path.Add(new PathRow { point = new GameObject("Marker").transform, time = 1f });
            DrawAFrame();
            MotionBridgeConnection.Generate();
            Assert.IsFalse(state.generating);
            StringAssert.Contains("does not serve \"constraints\"", state.statusLine);
            state.usePath = false;
            state.useTimeline = true;
            state.timeline.Add(new TimelineRow { prompt = "walk", seconds = 2f });
            MotionBridgeConnection.Generate();
            Assert.IsFalse(state.generating);
            StringAssert.Contains("does not serve \"timeline\"", state.statusLine);
            MessagePackMap request;
            Assert.IsFalse(_requests.TryTake(out request, TimeSpan.FromMilliseconds(200)), "nothing was sent");
            StringAssert.Contains("no capabilities", MotionBridgeLive.Unavailable());
        }
    }
}
