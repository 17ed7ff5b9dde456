// MotionBridge editor tests: a Humanoid character, the daemon's skeleton and a take, built on the stand-ins,
// the editor-update loop tests wait in, and the fields of what the window sent.
using System;
using System.Threading;
using MotionBridge.Editor;
using MotionBridge.MessagePack;
using MotionBridge.Motion;
using NUnit.Framework;
using UnityEngine;

namespace MotionBridge.EditorTests
{
    /// <summary>Scene content and editor state the tests share; <see cref="ResetState"/> puts the window back to new.</summary>
    public static class EditorFixtures
    {
        public static readonly Vector3 HipsRest = new Vector3(0f, 1f, 0f);

        /// <summary>How long a test waits for the loopback daemon or the window before it fails.</summary>
        public static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

        /// <summary>Once per process, like Unity's domain load: every [InitializeOnLoad] static constructor.</summary>
        public static void LoadDomain()
        {
            UnityStandIn.EditorActions.RunInitializeOnLoad(typeof(MotionBridgeWindow).Assembly);
        }

        /// <summary>Runs editor updates until the condition holds; the failure names the window's status line.</summary>
        public static void UpdateUntil(Func<bool> done, string what)
        {
            var deadline = DateTime.UtcNow + Patience;
            while (!done())
            {
                if (DateTime.UtcNow > deadline)
                {
                    Assert.Fail("waited for " + what + "; status: " + MotionBridgeState.instance.statusLine);
                }
                UnityStandIn.EditorActions.Update();
                Thread.Sleep(2);
            }
        }

        /// <summary>A field of a message the window sent; fails the test, naming it, when the field is missing.</summary>
        public static object Field(MessagePackMap map, string name)
        {
            object value;
            Assert.IsTrue(map.TryGetValue(name, out value), "missing '" + name + "'");
            return value;
        }

        public static void ResetState()
        {
            MotionBridgeConnection.Disconnect();
            MotionBridgePlayback.Stop();
            MotionBridgePlayback.ResumeTake();
            var state = MotionBridgeState.instance;
            state.takes.Clear();
            state.activeRequestId = null;
            state.activeJob = null;
            state.generating = false;
            state.statusLine = "";
            state.selectedSample = 0;
            state.target = null;
            state.previewEnabled = true;
            state.playing = false;
            state.playTime = 0;
            state.skeleton = new StoredSkeleton();
            state.continueFrom = ContinueFrom.Nothing;
            state.continueClip = null;
            state.useTimeline = false;
            state.timeline.Clear();
            state.usePath = false;
            state.path.Clear();
            state.segments.Clear();
            state.liveArea = 0;
            state.recordSeconds = 5f;
        }

        /// <summary>A character whose Animator has a Humanoid Avatar with its Hips at <see cref="HipsRest"/>.</summary>
        public static Animator Character(out Transform hips)
        {
            var character = new GameObject("Character");
            var animator = character.AddComponent<Animator>();
            hips = new GameObject("CharacterHips").transform;
            hips.SetParent(character.transform, false);
            hips.localPosition = HipsRest;
            hips.localRotation = Quaternion.identity;
            var description = new HumanDescription
            {
                human = new[] { new HumanBone { boneName = "CharacterHips", humanName = "Hips" } },
            };
            animator.avatar = AvatarBuilder.BuildHumanAvatar(character, description);
            return animator;
        }

        /// <summary>The daemon's skeleton in the Unity convention (two joints are enough for the stand-in).</summary>
        public static StoredSkeleton Skeleton()
        {
            return new StoredSkeleton
            {
                joints = new[] { "Hips", "Spine" },
                parents = new[] { -1, 0 },
                restOffsets = new[] { 0f, 0.95f, 0f, 0f, 0.1f, 0f },
            };
        }

        /// <summary>A final take whose hips travel 0.1 m along x per frame at 30 fps, starting at x = 0.5.</summary>
        public static MotionTake WalkingTake(int frames)
        {
            var root = new float[frames * 3];
            var rotations = new float[frames * 2 * 4];
            for (int f = 0; f < frames; f++)
            {
                root[3 * f] = 0.5f + 0.1f * f;
                root[3 * f + 1] = 0.9f;
                root[3 * f + 2] = 0.2f;
                for (int j = 0; j < 2; j++)
                {
                    rotations[(f * 2 + j) * 4 + 3] = 1f;
                }
            }
            return new MotionTake("r1", "j1", 0, 7, "unity", 30, new[] { "Hips", "Spine" }, root, rotations, true, -1);
        }
    }
}
