// MotionBridge for Unity: plays the current take on the chosen Humanoid in edit mode.
using System;
using MotionBridge.Client;
using MotionBridge.Motion;
using UnityEditor;
using UnityEditor.SceneManagement;
using UnityEngine;
using UnityEngine.SceneManagement;

namespace MotionBridge.Editor
{
    /// <summary>
    /// Each editor update: advance the playhead by wall-clock time, pose the source rig with the frame under
    /// it, read its muscles (GetHumanPose) and put them on the target Humanoid (SetHumanPose). Only a new frame
    /// or a new take is applied, so an idle preview costs nothing. The generated pose lives in the scene's own
    /// transforms, so the character is put back before anything can record it: saving a scene and entering play
    /// mode (the next update tick shows the frame again). While live mode runs, the frames come from the live
    /// session's ring instead, played in real time (<see cref="LivePlayhead"/>); when it stops the character gets its
    /// own pose back and the take stays off it until the user plays, scrubs or generates again.
    /// </summary>
    [InitializeOnLoad]
    public static class MotionBridgePlayback
    {
        private static readonly MotionPlayhead Playhead = new MotionPlayhead();
        private static SourceAvatar _source;
        private static StoredSkeleton _failedSkeleton;
        private static HumanoidPreview _preview;
        private static MotionTake _shownTake;
        private static int _shownFrame = -1;
        private static double _lastTick = -1;
        private static HumanPose _pose;
        private static readonly LivePlayhead LiveHead = new LivePlayhead();
        private static float[] _liveRoot = new float[3];
        private static float[] _liveRotations = new float[0];
        private static bool _takeSuspended;

        static MotionBridgePlayback()
        {
            EditorSceneManager.sceneSaving += OnSceneSaving;
            EditorApplication.playModeStateChanged += OnPlayModeStateChanged;
        }

        private static void OnSceneSaving(Scene scene, string path)
        {
            StopPreview();
        }

        private static void OnPlayModeStateChanged(PlayModeStateChange change)
        {
            if (change == PlayModeStateChange.ExitingEditMode)
            {
                // Play mode starts from a copy of the scene made after this: it must hold the character's own pose.
                Stop();
            }
        }

        /// <summary>Why nothing is shown on the target right now (null when the preview is running).</summary>
        public static string Problem { get; private set; }

        /// <summary>The frame last put on the target, -1 if none.</summary>
        public static int ShownFrame
        {
            get { return _shownFrame; }
        }

        /// <summary>The live frame on screen (counted from the session's first frame), -1 before any.</summary>
        public static int LiveFrame
        {
            get { return LiveHead.Frame; }
        }

        /// <summary>Live mode began: play its stream from the first frame that arrives.</summary>
        public static void StartLive()
        {
            LiveHead.Reset();
            _shownTake = null;
            _shownFrame = -1;
            _takeSuspended = false;
        }

        /// <summary>Live mode ended: the character gets its own pose back, and the take waits for Play.</summary>
        public static void StopLive()
        {
            Stop();
            LiveHead.Reset();
            _takeSuspended = true;
        }

        /// <summary>Shows the take again after live mode (Play, a scrub, a new result).</summary>
        public static void ResumeTake()
        {
            _takeSuspended = false;
        }

        /// <summary>Advances and applies; true when the window should repaint.</summary>
        public static bool Tick()
        {
            double now = EditorApplication.timeSinceStartup;
            // Clamped so a long stall (a modal dialog, a reload) does not jump far ahead.
            double delta = _lastTick < 0 ? 0 : Math.Min(0.5, Math.Max(0, now - _lastTick));
            _lastTick = now;
            if (!EditorWindow.HasOpenInstances<MotionBridgeWindow>())
            {
                // No window, no way to stop it: never leave a character animating behind the user's back.
                MotionBridgeLive.Stop();
                Stop();
                return false;
            }
            var state = MotionBridgeState.instance;
            var live = MotionBridgeLive.Session;
            if (live != null)
            {
                return TickLive(state, live, delta);
            }
            var take = MotionBridgeConnection.CurrentTake(state.selectedSample);
            if (take == null || _takeSuspended)
            {
                return false;
            }
            Playhead.Loop = state.loopPlayback;
            Playhead.Playing = state.playing;
            Playhead.Scrub(state.playTime, take.Duration);
            Playhead.Advance(delta, take.Duration);
            bool moved = Playhead.Time != state.playTime || Playhead.Playing != state.playing;
            state.playTime = Playhead.Time;
            state.playing = Playhead.Playing;
            if (!state.previewEnabled || EditorApplication.isPlayingOrWillChangePlaymode)
            {
                Stop();
                Problem = state.previewEnabled ? "preview pauses in play mode" : null;
                return moved;
            }
            if (!EnsureRigs(state))
            {
                return moved;
            }
            int frame = Playhead.Frame(take.Fps, take.FrameCount);
            if (ReferenceEquals(take, _shownTake) && frame == _shownFrame)
            {
                return moved;
            }
            try
            {
                _source.Pose(take, frame);
                _source.GetHumanPose(ref _pose);
                _preview.Apply(ref _pose);
            }
            catch (Exception error)
            {
                Problem = "preview failed: " + error.Message;
                Stop();
                return true;
            }
            _shownTake = take;
            _shownFrame = frame;
            Problem = null;
            SceneView.RepaintAll();
            // Ask for another update soon even when the editor is unfocused and would otherwise idle.
            EditorApplication.QueuePlayerLoopUpdate();
            return true;
        }

        private static bool TickLive(MotionBridgeState state, LiveSession session, double delta)
        {
            if (!state.previewEnabled || EditorApplication.isPlayingOrWillChangePlaymode)
            {
                Stop();
                Problem = state.previewEnabled ? "live preview pauses in play mode" : null;
                return false;
            }
            var ring = session.Frames;
            int before = LiveHead.Frame;
            int frame = LiveHead.Advance(delta, ring.Received, ring.Oldest, ring.Fps);
            if (frame < 0 || !EnsureRigs(state))
            {
                return frame != before;
            }
            if (frame == _shownFrame && _shownTake == null && _preview != null)
            {
                return frame != before;
            }
            var joints = ring.Joints;
            if (_liveRotations.Length != joints.Length * 4)
            {
                _liveRotations = new float[joints.Length * 4];
            }
            if (!ring.CopyFrame(frame, _liveRoot, _liveRotations))
            {
                return frame != before;
            }
            try
            {
                _source.Pose(joints, _liveRoot, 0, _liveRotations, 0);
                _source.GetHumanPose(ref _pose);
                _preview.Apply(ref _pose);
            }
            catch (Exception error)
            {
                Problem = "live preview failed: " + error.Message;
                Stop();
                return true;
            }
            _shownTake = null;
            _shownFrame = frame;
            Problem = null;
            SceneView.RepaintAll();
            EditorApplication.QueuePlayerLoopUpdate();
            return true;
        }

        private static bool EnsureRigs(MotionBridgeState state)
        {
            var target = state.target;
            string problem = HumanoidPreview.Problem(target);
            if (problem != null)
            {
                StopPreview();
                Problem = problem;
                return false;
            }
            if (_preview != null && _preview.Animator != target)
            {
                StopPreview();
            }
            if (_source != null && !ReferenceEquals(_source.Skeleton, state.skeleton))
            {
                _source.Dispose();
                _source = null;
            }
            if (_source == null)
            {
                if (ReferenceEquals(_failedSkeleton, state.skeleton))
                {
                    return false;
                }
                try
                {
                    _source = SourceAvatar.Build(state.skeleton);
                }
                catch (Exception error)
                {
                    _failedSkeleton = state.skeleton;
                    Problem = error.Message;
                    return false;
                }
            }
            if (_preview == null)
            {
                _preview = new HumanoidPreview(target);
                _shownTake = null;
            }
            return true;
        }

        public static void Scrub(double seconds)
        {
            _takeSuspended = false;
            var state = MotionBridgeState.instance;
            var take = MotionBridgeConnection.CurrentTake(state.selectedSample);
            state.playTime = take == null ? 0 : Math.Max(0, Math.Min(seconds, take.Duration));
        }

        private static void StopPreview()
        {
            if (_preview != null)
            {
                _preview.Dispose();
                _preview = null;
            }
            _shownTake = null;
            _shownFrame = -1;
        }

        /// <summary>Puts the character back in its own pose and frees the source rig.</summary>
        public static void Stop()
        {
            StopPreview();
            if (_source != null)
            {
                _source.Dispose();
                _source = null;
            }
        }

        /// <summary>Bakes a take with a fresh source rig (the preview's, if it is up).</summary>
        public static string Bake(MotionTake take, string folder, string name, bool loopTime)
        {
            var state = MotionBridgeState.instance;
            bool temporary = _source == null || !ReferenceEquals(_source.Skeleton, state.skeleton);
            var source = temporary ? SourceAvatar.Build(state.skeleton) : _source;
            try
            {
                var clip = ClipBaker.Bake(take, source, loopTime);
                return ClipBaker.Save(clip, folder, name);
            }
            finally
            {
                if (temporary)
                {
                    source.Dispose();
                }
                // Baking moved the source rig; make the next tick re-apply the frame under the playhead.
                _shownTake = null;
            }
        }
    }
}
