// MotionBridge for Unity: live mode in the editor (a motion that keeps going while the prompt is edited).
using System;
using MotionBridge.Client;
using MotionBridge.Motion;
using MotionBridge.Protocol;
using UnityEditor;
using UnityEngine;

namespace MotionBridge.Editor
{
    /// <summary>
    /// The window's one live session: Start / Stop, prompt edits sent as `live_prompt` once the text has rested
    /// for <see cref="PromptDebounceSeconds"/>, and Record (the last seconds, baked like any take). The frames
    /// are shown by <see cref="MotionBridgePlayback"/>; the session lives only as long as the connection, so a
    /// script reload, a dropped daemon or entering play mode ends it and the character gets its own pose back.
    /// </summary>
    [InitializeOnLoad]
    public static class MotionBridgeLive
    {
        /// <summary>How long the prompt must stay unchanged before the daemon is asked to follow it.</summary>
        public const double PromptDebounceSeconds = 0.4;

        /// <summary>Seconds of the stream kept beyond the longest recording, so Record always finds what was shown.</summary>
        private const double HistoryMarginSeconds = 5;

        /// <summary>The longest recording offered (and so the ring's size).</summary>
        public const float MaxRecordSeconds = 60f;

        private static LiveSession _session;
        private static string _typedPrompt;
        private static double _typedAt;

        static MotionBridgeLive()
        {
            EditorApplication.playModeStateChanged += OnPlayModeStateChanged;
        }

        /// <summary>The running session, or null.</summary>
        public static LiveSession Session
        {
            get { return _session; }
        }

        public static bool IsRunning
        {
            get { return _session != null; }
        }

        /// <summary>Why live mode cannot start now (null when it can).</summary>
        public static string Unavailable()
        {
            var client = MotionBridgeConnection.Client;
            if (client == null || client.State != ConnectionState.Ready)
            {
                return "connect to the daemon first";
            }
            var problem = MotionBridgeDirecting.Unavailable(client.Hello, Capabilities.Live);
            if (problem != null)
            {
                return problem;
            }
            var state = MotionBridgeState.instance;
            return HumanoidPreview.Problem(state.target) ?? (state.skeleton.IsValid ? null : "waiting for the daemon's skeleton");
        }

        /// <summary>Starts a session with the window's prompt, seed and area; the character starts moving as frames arrive.</summary>
        public static void Start()
        {
            var state = MotionBridgeState.instance;
            if (_session != null)
            {
                return;
            }
            var problem = Unavailable();
            if (problem != null)
            {
                state.statusLine = "live: " + problem;
                return;
            }
            var request = new LiveRequest
            {
                Prompt = state.prompt.Trim(),
                Seed = state.seed,
                Area = Math.Max(0f, state.liveArea),
                Target = ProtocolConstants.UnityTarget,
            };
            try
            {
                _session = MotionBridgeConnection.Client.StartLive(request, MaxRecordSeconds + HistoryMarginSeconds);
            }
            catch (ArgumentException error)
            {
                state.statusLine = "live: " + error.Message;
                return;
            }
            catch (InvalidOperationException error)
            {
                state.statusLine = "live: " + error.Message;
                return;
            }
            _typedPrompt = state.prompt;
            _typedAt = EditorApplication.timeSinceStartup;
            state.Remember(request.Prompt);
            state.statusLine = "live: starting";
            MotionBridgePlayback.StartLive();
        }

        /// <summary>Asks the daemon to stop and puts the character back in its own pose at once.</summary>
        public static void Stop()
        {
            if (_session == null)
            {
                return;
            }
            try
            {
                _session.Stop();
            }
            catch (InvalidOperationException)
            {
                // Not connected any more: the daemon already stopped the session with the connection.
            }
            End("live stopped");
        }

        private static void End(string status)
        {
            _session = null;
            MotionBridgePlayback.StopLive();
            MotionBridgeState.instance.statusLine = status;
        }

        private static void OnPlayModeStateChanged(PlayModeStateChange change)
        {
            if (change == PlayModeStateChange.ExitingEditMode)
            {
                // Play mode starts from a copy of the scene, and a stream nobody shows would run on for nothing.
                Stop();
            }
        }

        /// <summary>Called every editor update: sends a rested prompt edit and notices the session's end.</summary>
        public static bool Tick()
        {
            var session = _session;
            if (session == null)
            {
                return false;
            }
            if (!session.IsRunning)
            {
                var error = session.Error;
                End(error != null ? "live ended: " + error.Code + ": " + error.Message
                    : "live ended after " + (session.Done != null ? session.Done.Frames : session.Frames.Received) + " frames");
                return true;
            }
            var state = MotionBridgeState.instance;
            double now = EditorApplication.timeSinceStartup;
            if (state.prompt != _typedPrompt)
            {
                _typedPrompt = state.prompt;
                _typedAt = now;
                return false;
            }
            string prompt = (state.prompt ?? "").Trim();
            if (now - _typedAt >= PromptDebounceSeconds && prompt.Length > 0 && prompt != session.Prompt)
            {
                try
                {
                    session.ChangePrompt(prompt);
                    state.statusLine = "live: asked to follow \"" + prompt + "\"";
                }
                catch (InvalidOperationException error)
                {
                    state.statusLine = "live: " + error.Message;
                }
                return true;
            }
            return false;
        }

        /// <summary>What the window shows about the session: frames, and the prompt it follows from which frame.</summary>
        public static string Describe()
        {
            var session = _session;
            if (session == null)
            {
                return null;
            }
            var frames = session.Frames;
            string text = frames.Received + " frames received, showing " + Math.Max(0, MotionBridgePlayback.LiveFrame);
            var liveState = session.State;
            if (liveState != null)
            {
                text += " · \"" + liveState.Prompt + "\" from frame " + liveState.Frame;
            }
            return text;
        }

        /// <summary>Bakes the last <see cref="MotionBridgeState.recordSeconds"/> up to the frame on screen; returns the asset path.</summary>
        public static string Record()
        {
            var state = MotionBridgeState.instance;
            var session = _session;
            if (session == null)
            {
                throw new InvalidOperationException("live mode is off: turn Live on to record");
            }
            int shown = MotionBridgePlayback.LiveFrame;
            var take = session.Frames.TakeLast(Math.Min(state.recordSeconds, MaxRecordSeconds), shown + 1, session.Id, session.Job, session.Seed);
            if (take == null || shown < 0)
            {
                throw new InvalidOperationException("nothing to record yet: wait for the first frames");
            }
            string name = ClipNames.FromPrompt("live " + session.Prompt, session.Seed);
            string path = MotionBridgePlayback.Bake(take, state.bakeFolder, name, false);
            state.statusLine = "recorded " + take.FrameCount + " frames (" + take.Duration.ToString("0.0") + " s) to " + path;
            return path;
        }
    }
}
