// MotionBridge for Unity: the window's state, kept across domain reloads.
using System;
using System.Collections.Generic;
using MotionBridge.Motion;
using UnityEditor;
using UnityEngine;

namespace MotionBridge.Editor
{
    /// <summary>A received take in a form Unity serializes (survives domain reloads with the singleton).</summary>
    [Serializable]
    public sealed class StoredTake
    {
        public string requestId;
        public string job;
        public int sample;
        public long seed;
        public string target;
        public int fps;
        public string[] joints;
        public float[] root;
        public float[] rotations;
        public bool isFinal;
        public int previewStep;

        public static StoredTake From(MotionTake take)
        {
            return new StoredTake
            {
                requestId = take.RequestId,
                job = take.Job,
                sample = take.Sample,
                seed = take.Seed,
                target = take.Target,
                fps = take.Fps,
                joints = take.Joints,
                root = take.Root,
                rotations = take.Rotations,
                isFinal = take.IsFinal,
                previewStep = take.PreviewStep,
            };
        }

        public MotionTake ToTake()
        {
            return new MotionTake(requestId, job, sample, seed, target, fps, joints, root, rotations, isFinal, previewStep);
        }
    }

    /// <summary>The source skeleton (Unity convention) as Unity serializes it, so a reload can rebuild the source Avatar.</summary>
    [Serializable]
    public sealed class StoredSkeleton
    {
        public string[] joints;
        public int[] parents;
        public float[] restOffsets;

        public bool IsValid
        {
            get
            {
                return joints != null && joints.Length > 0 && parents != null && parents.Length == joints.Length
                    && restOffsets != null && restOffsets.Length == 3 * joints.Length;
            }
        }

        public static StoredSkeleton From(UnitySourceSkeleton skeleton)
        {
            return new StoredSkeleton
            {
                joints = skeleton.Joints,
                parents = skeleton.Parents,
                restOffsets = skeleton.RestOffsets,
            };
        }
    }

    /// <summary>Where a generated clip starts (protocol v1.1 `start`).</summary>
    public enum ContinueFrom
    {
        /// <summary>The model's own first pose.</summary>
        Nothing,

        /// <summary>The end of the motion shown (a finished job of the daemon: sent as its job id).</summary>
        LastResult,

        /// <summary>The pose the character stands in now.</summary>
        AvatarPose,

        /// <summary>The last frames of an AnimationClip (a baked result or any Humanoid clip), sampled on the character.</summary>
        Clip,
    }

    /// <summary>One row of the timeline: a prompt and how long it lasts.</summary>
    [Serializable]
    public sealed class TimelineRow
    {
        public string prompt = "";
        public float seconds = 2f;
    }

    /// <summary>One waypoint of the root path: a scene object, the time the root passes it, and whether its heading counts.</summary>
    [Serializable]
    public sealed class PathRow
    {
        public Transform point;
        public float time = 1f;
        public bool facing;
    }

    /// <summary>Where one timeline segment of the result lies (from `done.segments`), in frames.</summary>
    [Serializable]
    public sealed class SegmentRow
    {
        public int start;
        public int count;
    }

    /// <summary>
    /// Everything the MotionBridge window shows, as one ScriptableSingleton: Unity re-serializes it across
    /// domain reloads, so the last result, the settings and the request in flight survive script recompiles.
    /// The server URL and prompt history also go to EditorPrefs (they outlive the editor session); the token
    /// goes to SessionState only, so no secret is written to disk.
    /// </summary>
    public sealed class MotionBridgeState : ScriptableSingleton<MotionBridgeState>
    {
        private const string UrlKey = "MotionBridge.ServerUrl";
        private const string HistoryKey = "MotionBridge.PromptHistory";
        private const string TokenKey = "MotionBridge.Token";
        private const char HistorySeparator = '\u001f';
        private const int HistoryLength = 20;

        public string prompt = "a person walks forward and waves";
        public float seconds = 4f;
        public int seed;
        public int samples = 1;
        public bool useModelSteps = true;
        public int steps = 50;
        public bool useModelCfg = true;
        public float cfg = 5f;
        public int previewEvery = 5;
        public bool loopMotion;
        public bool inPlace;

        /// <summary>The user pressed Connect and not Disconnect: reconnect by ourselves after a reload.</summary>
        public bool wantConnected = true;

        /// <summary>The request the window shows; test with <see cref="HasActiveRequest"/>.</summary>
        public string activeRequestId;

        /// <summary>The daemon's job for it once accepted; test with <see cref="HasActiveJob"/>.</summary>
        public string activeJob;
        public bool generating;
        public float progress;
        public string statusLine = "";

        public StoredSkeleton skeleton = new StoredSkeleton();
        public List<StoredTake> takes = new List<StoredTake>();
        public int selectedSample;

        /// <summary>The character the motion is previewed on (a scene object; Unity keeps the reference across reloads).</summary>
        public Animator target;
        public bool previewEnabled = true;

        public double playTime;
        public bool playing = true;
        public bool loopPlayback = true;

        public string bakeFolder = "Assets/MotionBridge";

        public ContinueFrom continueFrom;

        /// <summary>The clip a <see cref="ContinueFrom.Clip"/> start samples its last frames from.</summary>
        public AnimationClip continueClip;

        public bool useTimeline;
        public List<TimelineRow> timeline = new List<TimelineRow>();

        public bool usePath;
        public List<PathRow> path = new List<PathRow>();

        /// <summary>The timeline segments of the result shown (empty for a clip made without a timeline).</summary>
        public List<SegmentRow> segments = new List<SegmentRow>();

        /// <summary>Live mode: the radius (metres) the root stays within around where it started; 0 = anywhere.</summary>
        public float liveArea;

        /// <summary>How many of the last seconds of a live session Record bakes.</summary>
        public float recordSeconds = 5f;

        // Unity's serializer brings a null string back as "" after a domain reload: both mean "none".
        public bool HasActiveRequest
        {
            get { return !string.IsNullOrEmpty(activeRequestId); }
        }

        public bool HasActiveJob
        {
            get { return !string.IsNullOrEmpty(activeJob); }
        }

        public string ServerUrl
        {
            get { return EditorPrefs.GetString(UrlKey, Protocol.ProtocolConstants.DefaultUrl); }
            set { EditorPrefs.SetString(UrlKey, value); }
        }

        public string Token
        {
            get { return SessionState.GetString(TokenKey, ""); }
            set { SessionState.SetString(TokenKey, value); }
        }

        public string[] History
        {
            get
            {
                var stored = EditorPrefs.GetString(HistoryKey, "");
                return stored.Length == 0 ? new string[0] : stored.Split(HistorySeparator);
            }
        }

        /// <summary>Puts a prompt at the top of the history (most recent first, no duplicates, bounded).</summary>
        public void Remember(string text)
        {
            var list = new List<string>(History);
            list.Remove(text);
            list.Insert(0, text.Replace(HistorySeparator, ' '));
            if (list.Count > HistoryLength)
            {
                list.RemoveRange(HistoryLength, list.Count - HistoryLength);
            }
            EditorPrefs.SetString(HistoryKey, string.Join(HistorySeparator.ToString(), list.ToArray()));
        }

        /// <summary>The take shown for a sample: stored final motion if any.</summary>
        public StoredTake StoredFor(int sample)
        {
            foreach (var take in takes)
            {
                if (take.sample == sample)
                {
                    return take;
                }
            }
            return null;
        }

        public void Store(MotionTake take)
        {
            takes.RemoveAll(t => t.sample == take.Sample);
            takes.Add(StoredTake.From(take));
            takes.Sort((a, b) => a.sample.CompareTo(b.sample));
        }
    }
}
