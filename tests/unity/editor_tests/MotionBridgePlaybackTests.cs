// MotionBridge editor tests: the edit-mode preview never reaches a saved scene or play mode.
using MotionBridge.Editor;
using NUnit.Framework;
using UnityEditor;
using UnityEngine;
using UnityStandIn;

namespace MotionBridge.EditorTests
{
    [TestFixture]
    public class MotionBridgePlaybackTests
    {
        private Transform _hips;

        [SetUp]
        public void ShowATakeOnACharacter()
        {
            EditorFixtures.LoadDomain();
            EditorFixtures.ResetState();
            var state = MotionBridgeState.instance;
            state.target = EditorFixtures.Character(out _hips);
            state.skeleton = EditorFixtures.Skeleton();
            state.Store(EditorFixtures.WalkingTake(10));
            MotionBridgePlayback.Tick();
            Assert.IsNull(MotionBridgePlayback.Problem);
            Assert.AreEqual(0.5f, _hips.localPosition.x, 1e-6, "frame 0 is on the character");
        }

        [TearDown]
        public void Reset()
        {
            EditorFixtures.ResetState();
        }

        private void AssertOwnPose(string when)
        {
            Assert.AreEqual(EditorFixtures.HipsRest.x, _hips.localPosition.x, 1e-6, when);
            Assert.AreEqual(EditorFixtures.HipsRest.y, _hips.localPosition.y, 1e-6, when);
        }

        [Test]
        public void Saving_the_scene_saves_the_characters_own_pose_and_the_preview_comes_back()
        {
            EditorActions.SaveScene("Assets/Level.unity");
            AssertOwnPose("while the scene is written");
            MotionBridgePlayback.Tick();
            Assert.AreEqual(0.5f, _hips.localPosition.x, 1e-6, "the next update shows the frame again");
        }

        [Test]
        public void Entering_play_mode_starts_from_the_characters_own_pose()
        {
            EditorActions.ChangePlayMode(PlayModeStateChange.ExitingEditMode);
            AssertOwnPose("when play mode copies the scene");
        }

        [Test]
        public void Turning_the_preview_off_restores_the_pose()
        {
            MotionBridgeState.instance.previewEnabled = false;
            MotionBridgePlayback.Tick();
            AssertOwnPose("after Show on character is unticked");
        }
    }
}
