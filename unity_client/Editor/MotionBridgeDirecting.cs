// MotionBridge for Unity: the window's directing settings (continue from, timeline, root path) as v1.1 request fields.
using System;
using System.Collections.Generic;
using MotionBridge.Motion;
using MotionBridge.Protocol;
using UnityEngine;

namespace MotionBridge.Editor
{
    /// <summary>
    /// Turns what the window's Directing section holds into `start`, `segments` and `path` of a generate request,
    /// in the `unity` target's convention, and says why a part cannot be used with the connected daemon.
    /// </summary>
    public static class MotionBridgeDirecting
    {
        /// <summary>Frames of a clip sent as a start: a few more than one let the daemon carry the velocity on.</summary>
        public const int StartFrames = 5;

        /// <summary>Why <paramref name="capability"/> cannot be used now (null when it can).</summary>
        public static string Unavailable(HelloMessage hello, string capability)
        {
            if (hello == null)
            {
                return "connect to the daemon first";
            }
            if (!hello.Serves(capability))
            {
                return "this daemon does not serve \"" + capability + "\" (its hello lists "
                    + (hello.Capabilities.Length == 0 ? "no capabilities" : string.Join(", ", hello.Capabilities))
                    + "): update motionbridge";
            }
            return null;
        }

        /// <summary>Fills the request's directing fields from the state; returns a problem to show instead, or null.</summary>
        public static string Apply(GenerateRequest request, MotionBridgeState state, HelloMessage hello)
        {
            if (state.useTimeline)
            {
                var problem = Unavailable(hello, Capabilities.Timeline);
                if (problem != null)
                {
                    return "timeline: " + problem;
                }
                if (state.timeline.Count == 0)
                {
                    return "the timeline has no rows: add a segment or untick Timeline";
                }
                request.Segments = new List<TimelineSegment>();
                foreach (var row in state.timeline)
                {
                    request.Segments.Add(new TimelineSegment((row.prompt ?? "").Trim(), row.seconds));
                }
                // The timeline is the whole script: the prompt box does not add a stretch of its own.
                request.Prompt = "";
            }
            if (state.continueFrom != ContinueFrom.Nothing || (state.usePath && state.path.Count > 0))
            {
                var problem = Unavailable(hello, Capabilities.Constraints);
                if (problem != null)
                {
                    return "directing: " + problem;
                }
            }
            try
            {
                request.Start = Start(state);
                if (state.usePath && state.path.Count > 0)
                {
                    request.Path = Path(state, hello.Model.Fps, ClipFrames(request.ClipSeconds, hello.Model.Fps));
                }
            }
            catch (InvalidOperationException error)
            {
                return error.Message;
            }
            return null;
        }

        /// <summary>Frames the daemon makes for a clip of <paramref name="seconds"/> (its rule: round(seconds × fps), at least 20).</summary>
        public static int ClipFrames(double seconds, int fps)
        {
            return Math.Max(20, (int)Math.Round(seconds * fps));
        }

        /// <summary>The `start` the state asks for, or null; InvalidOperationException says what is missing.</summary>
        public static StartMotion Start(MotionBridgeState state)
        {
            switch (state.continueFrom)
            {
                case ContinueFrom.LastResult:
                    return FromLastResult(state);
                case ContinueFrom.AvatarPose:
                    return PoseCapture.FromCharacter(Character(state), state.skeleton);
                case ContinueFrom.Clip:
                    if (state.continueClip == null)
                    {
                        throw new InvalidOperationException("continue from a clip: pick the AnimationClip first");
                    }
                    return PoseCapture.FromClip(state.continueClip, Character(state), state.skeleton, StartFrames);
                default:
                    return null;
            }
        }

        private static StartMotion FromLastResult(MotionBridgeState state)
        {
            var take = MotionBridgeConnection.CurrentTake(state.selectedSample);
            if (take == null || !take.IsFinal)
            {
                throw new InvalidOperationException("continue from the last result: there is no finished motion yet");
            }
            if (!string.IsNullOrEmpty(take.Job))
            {
                return StartMotion.FromJob(take.Job, take.Sample);
            }
            return PoseCapture.LastFrames(take, StartFrames);
        }

        private static Animator Character(MotionBridgeState state)
        {
            var problem = HumanoidPreview.Problem(state.target);
            if (problem != null)
            {
                throw new InvalidOperationException("continue from the character: " + problem);
            }
            return state.target;
        }

        /// <summary>The path rows as waypoints in the character's space (see <see cref="ScenePath"/>).</summary>
        public static List<PathPoint> Path(MotionBridgeState state, int fps, int clipFrames)
        {
            var origin = state.target != null ? state.target.transform : null;
            if (origin == null)
            {
                throw new InvalidOperationException("root path: pick the character first (the path is relative to where it stands)");
            }
            double originYaw = Yaw(origin.rotation);
            var points = new List<PathPoint>();
            for (int i = 0; i < state.path.Count; i++)
            {
                var row = state.path[i];
                if (row.point == null)
                {
                    throw new InvalidOperationException("root path: point " + (i + 1) + " has no scene object");
                }
                var position = row.point.position;
                double? yaw = row.facing ? Yaw(row.point.rotation) : (double?)null;
                points.Add(ScenePath.Waypoint(row.time, position.x, position.z, yaw, origin.position.x, origin.position.z, originYaw));
            }
            return points;
        }

        /// <summary>Sets the rows' times evenly over a clip of the current length, the last on its last frame.</summary>
        public static void SpreadPathTimes(MotionBridgeState state, double clipSeconds, int fps)
        {
            var times = ScenePath.EvenTimes(state.path.Count, ClipFrames(clipSeconds, fps), fps);
            for (int i = 0; i < times.Length; i++)
            {
                state.path[i].time = (float)times[i];
            }
        }

        private static double Yaw(Quaternion rotation)
        {
            return ScenePath.Yaw(rotation.x, rotation.y, rotation.z, rotation.w);
        }
    }
}
