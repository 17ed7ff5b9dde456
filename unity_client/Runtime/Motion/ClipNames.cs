// MotionBridge for Unity: asset names for baked clips.
using System.Text;

namespace MotionBridge.Motion
{
    /// <summary>File names for baked clips, made from the prompt so a folder of clips reads like a shot list.</summary>
    public static class ClipNames
    {
        public const int MaxPromptChars = 48;

        /// <summary>
        /// "a person waves, twice!" with seed 3 → "a_person_waves_twice_seed3": letters and digits kept (any
        /// script), every other run of characters becomes one '_', at most <see cref="MaxPromptChars"/> from the
        /// prompt; "MotionBridge" when nothing usable is left.
        /// </summary>
        public static string FromPrompt(string prompt, long seed)
        {
            var name = new StringBuilder();
            foreach (char c in prompt ?? "")
            {
                if (name.Length >= MaxPromptChars)
                {
                    break;
                }
                if (char.IsLetterOrDigit(c) || c == '-')
                {
                    name.Append(c);
                }
                else if (name.Length > 0 && name[name.Length - 1] != '_')
                {
                    name.Append('_');
                }
            }
            string stem = name.ToString().Trim('_');
            return (stem.Length == 0 ? "MotionBridge" : stem) + "_seed" + seed;
        }
    }
}
