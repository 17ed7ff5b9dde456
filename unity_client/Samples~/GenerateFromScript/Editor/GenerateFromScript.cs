// MotionBridge sample: generate one prompt from a menu command and bake it, without the window.
using MotionBridge.Client;
using MotionBridge.Editor;
using MotionBridge.Motion;
using MotionBridge.Protocol;
using UnityEditor;
using UnityEngine;

namespace MotionBridge.Samples
{
    /// <summary>
    /// Tools ▸ MotionBridge Sample ▸ Generate Walk Clip: connects its own client, sends one prompt, and when the
    /// final motion is in, bakes it to Assets/MotionBridge Samples/. Shows the whole API in one file: client
    /// events drained in EditorApplication.update, the frame buffer, the source Avatar and the clip baker.
    /// </summary>
    public static class GenerateFromScript
    {
        private const string Prompt = "a person walks forward, turns around and walks back";
        private static MotionBridgeClient _client;
        private static string _request;

        [MenuItem("Tools/MotionBridge Sample/Generate Walk Clip")]
        public static void Run()
        {
            if (_client != null)
            {
                Debug.Log("MotionBridge sample: already running");
                return;
            }
            _client = new MotionBridgeClient(new MotionBridgeClientOptions
            {
                Url = new System.Uri(MotionBridgeState.instance.ServerUrl),
                Token = MotionBridgeState.instance.Token,
                ClientName = "motionbridge-unity-sample/0.1.0",
                AutoReconnect = false,
            });
            _client.Start();
            EditorApplication.update += Poll;
        }

        private static void Poll()
        {
            ClientEvent item;
            while (_client != null && _client.TryDequeue(out item))
            {
                if (item.IsStateChange && item.State == ConnectionState.Ready)
                {
                    _request = _client.Generate(new GenerateRequest { Prompt = Prompt, Seconds = 6, Seed = 1 });
                }
                else if (item.IsStateChange && item.State != ConnectionState.Connecting)
                {
                    Finish("connection: " + item.Reason);
                }
                else if (item.Message is DoneMessage && item.Message.Id == _request)
                {
                    Bake(_client.Frames.Final(_request, 0));
                }
                else if (item.Message is ErrorMessage)
                {
                    var error = (ErrorMessage)item.Message;
                    Finish(error.Code + ": " + error.Message);
                }
            }
        }

        private static void Bake(MotionTake take)
        {
            var hello = _client.Hello;
            var skeleton = StoredSkeleton.From(new UnitySourceSkeleton(hello.Skeleton, take.Joints));
            using (var source = SourceAvatar.Build(skeleton))
            {
                var clip = ClipBaker.Bake(take, source, false);
                string path = ClipBaker.Save(clip, "Assets/MotionBridge Samples", ClipNames.FromPrompt(Prompt, take.Seed));
                Finish("baked " + path);
            }
        }

        private static void Finish(string message)
        {
            Debug.Log("MotionBridge sample: " + message);
            EditorApplication.update -= Poll;
            if (_client != null)
            {
                // Not Dispose: that waits for the close, and this runs in the editor's update.
                _client.CloseAsync(false);
                _client = null;
            }
        }
    }
}
