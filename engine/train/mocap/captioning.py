"""Captions for CMU takes that no one wrote by hand: CMU's description, read through our phrase banks, kept
honest by what the motion measurably does.

For each segment of a take:
1. `actions(description)` finds the actions CMU's one-line description names, in order, through `LEXICON`
   (a pattern per action and three or more of our own verb phrases for it). Two-person takes lose their
   "(2 subjects - subject a)" tag and the partner's part.
2. `measure(clip)` takes what the motion does: travel and speed, direction (forward, backward, sideways),
   heading change, pelvis height (lowest, start, end) against the standing skeleton's 0.95 m, vertical rise,
   lowest wrist, hands above the head.
3. An action whose signature the segment lacks is dropped from that segment's captions (a segment of
   "walk, sit down, get up" in which the pelvis never goes low does not say "sits"): `Action.cue`.
   This is how a take whose description lists several actions gets each part captioned with its own.
4. Locomotion gets measured words: slow / brisk / fast, backwards, to the left or right, turning left or
   right. Style words of the description (sad, angry, drunk, ...) become adverbs.
5. `captions(...)` composes at least three varied sentences; phrase choices are seeded by the segment id,
   so a rebuild writes the same manifest.

A segment whose description names no known action and that does nothing measurable (no travel, no low
pelvis, no jump) gets no captions and is left out of training.

Long module: mostly the vocabulary tables the generated captions are built from; the logic is short.
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.core.skeleton import BODY_JOINTS, SMPLH_BODY
from engine.train.mocap.clip import MocapClip

_J = {name: i for i, name in enumerate(BODY_JOINTS)}
_REST = SMPLH_BODY.rest_positions()
STANDING_PELVIS = float(_REST[_J["pelvis"], 1])
"""0.95 m: the pelvis height of the rest skeleton standing."""
HEAD_HEIGHT = float(_REST[_J["head"], 1])


@dataclass(frozen=True)
class Measures:
    """What a canonical, grounded segment does (metres, seconds, degrees; +Z forward, +X left)."""

    seconds: float
    forward: float
    lateral: float
    path: float
    speed: float
    heading: float
    pelvis_min: float
    pelvis_start: float
    pelvis_end: float
    rise: float
    wrist_min: float
    hands_up: float

    @property
    def travels(self) -> bool:
        return self.path > 1.0 and self.speed > 0.35

    @property
    def low(self) -> bool:
        return self.pelvis_min < 0.72 * STANDING_PELVIS

    @property
    def seated(self) -> bool:
        """Low enough for a chair or a high stool (a stool seat still drops the pelvis ~0.15 m)."""
        return self.pelvis_min < 0.82 * STANDING_PELVIS

    @property
    def very_low(self) -> bool:
        return self.pelvis_min < 0.40 * STANDING_PELVIS


def measure(clip: MocapClip) -> Measures:
    """Measures of one canonical segment (30 fps)."""
    pos = clip.world_positions()
    root = clip.root
    step = np.linalg.norm(np.diff(root[:, [0, 2]], axis=0), axis=1)
    # 0.5 s moving average keeps sway out of the path length.
    k = max(1, int(round(clip.fps / 2)))
    smooth = np.stack([np.convolve(root[:, a], np.ones(k) / k, mode="valid") for a in (0, 2)], axis=1)
    path = float(np.linalg.norm(np.diff(smooth, axis=0), axis=1).sum()) if len(smooth) > 1 else 0.0
    across = pos[:, _J["left_hip"]] - pos[:, _J["right_hip"]]
    yaw = np.unwrap(np.arctan2(-across[:, 2], across[:, 0]))
    pelvis = root[:, 1]
    edge = max(1, int(clip.fps / 2))
    wrists = pos[:, [_J["left_wrist"], _J["right_wrist"]], 1]
    head = pos[:, _J["head"], 1]
    del step
    return Measures(
        seconds=clip.seconds,
        forward=float(root[-1, 2] - root[0, 2]),
        lateral=float(root[-1, 0] - root[0, 0]),
        path=path,
        speed=path / max(clip.seconds, 1e-6),
        heading=float(np.degrees(yaw[-1] - yaw[0])),
        pelvis_min=float(np.percentile(pelvis, 2)),
        pelvis_start=float(pelvis[:edge].mean()),
        pelvis_end=float(pelvis[-edge:].mean()),
        rise=float(pelvis.max() - np.median(pelvis)),
        wrist_min=float(wrists.min()),
        hands_up=float((wrists.max(axis=1) > head + 0.05).mean()),
    )


# ---------------------------------------------------------------- the lexicon


@dataclass(frozen=True)
class Action:
    """One action a description can name: its pattern, our phrases for it, and the cue it needs."""

    key: str
    pattern: str
    phrases: tuple[str, ...]
    cue: Callable[[Measures], bool] | None = None
    locomotion: bool = False
    regex: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern, re.IGNORECASE))


def _moves(m: Measures) -> bool:
    return m.travels


def _low(m: Measures) -> bool:
    return m.low


def _floor(m: Measures) -> bool:
    return m.very_low


def _seated(m: Measures) -> bool:
    return m.seated


def _rises(m: Measures) -> bool:
    return m.seated and m.pelvis_end - m.pelvis_min > 0.12


def _lowers(m: Measures) -> bool:
    return m.low and m.pelvis_start - m.pelvis_min > 0.2


def _airborne(m: Measures) -> bool:
    return m.rise > 0.12


def _reaches_floor(m: Measures) -> bool:
    return m.wrist_min < 0.45


def _up_steps(m: Measures) -> bool:
    return m.pelvis_end - m.pelvis_start > 0.15 or m.rise > 0.15


def _arms_up(m: Measures) -> bool:
    return m.hands_up > 0.05


def A(key: str, pattern: str, *phrases: str, cue: Callable[[Measures], bool] | None = None,
      locomotion: bool = False) -> Action:
    return Action(key, pattern, phrases, cue, locomotion)


LEXICON: tuple[Action, ...] = (
    # greetings and gestures
    A("wave", r"\bwav(e|es|ing)\b(?! hands? in)", "waves", "waves a hand in greeting", "gives a wave",
      "waves hello to someone"),
    A("point", r"\bpoint(s|ing)?\b", "points at something", "points with an outstretched arm",
      "points into the distance"),
    A("bow", r"\bbow(s|ing)?\b(?! and arrow)|\bcurtsey", "bows", "bows forward from the waist",
      "takes a bow", "bends forward in a bow"),
    A("clap", r"\bclap", "claps", "claps their hands together", "applauds"),
    A("shrug", r"\bshrug", "shrugs", "shrugs their shoulders", "lifts both shoulders in a shrug"),
    A("salute", r"\bsalute", "salutes", "raises a hand in a salute", "gives a salute"),
    A("handshake", r"shak(e|es|ing) hands|hand ?shake", "shakes hands with someone", "reaches out for a handshake",
      "offers a hand to shake"),
    A("signal", r"signals|direct(s|ing)? traffic", "makes hand signals", "directs traffic with their arms",
      "signals with both arms"),
    A("talk", r"conversation|explain|talk|story|storytell|quarrel|argu", "gestures while talking",
      "talks with expressive hand gestures", "explains something with their hands"),
    A("rhyme", r"nursery rhyme|teapot|rosie|rosey|cock robin", "acts out a nursery rhyme",
      "performs a children's rhyme with gestures", "mimes a nursery rhyme"),
    A("peekaboo", r"peek ?a ?boo|peeping", "plays peekaboo", "hides their face and peeks out",
      "peeks out from behind their hands"),
    A("laugh", r"\blaugh", "laughs", "laughs heartily", "doubles over laughing"),
    A("cry", r"\bcry|crying|\bsad\b(?!walk)", "cries", "looks sad and wipes tears", "sobs with head hung low"),
    A("scared", r"scared|freez", "acts scared", "flinches in fear", "cowers as if frightened"),
    A("look", r"look(s|ing)? around|search", "looks around", "looks around searching",
      "scans the surroundings"),
    # posture changes
    A("sit", r"\bsit(s|ting)?\b|\bsits? (down|on)|medium sit|high sit|low sit|\bseat", "sits down",
      "takes a seat", "lowers into a seated position", "sits on a chair", cue=_seated),
    A("stand_up", r"stand(s|ing)? up|\bget(s|ting)? up\b|\brise\b",
      "stands up", "rises to their feet", "gets up from a seat", cue=_rises),
    A("get_up", r"(get(s|ting)?|getting) up (from |off )?(the )?(floor|ground)|get up (face|laying)"
      r"|lay(ing)? down, getting up",
      "gets up off the floor", "picks themselves up from the ground", "stands back up from the floor",
      cue=_rises),
    A("lie", r"\blay(ing)? down|\blie(s)? down|lying|laying on", "lies down on the floor",
      "lies on the ground", "stretches out flat on the floor", cue=_floor),
    A("fall", r"\bfall|stumbl|fall down", "falls down", "stumbles and falls", "topples over", cue=_low),
    A("squat", r"\bsquat", "squats", "does squats", "bends the knees into a deep squat", cue=_low),
    A("kneel", r"\bkneel", "kneels", "kneels down", "drops to one knee", cue=_low),
    A("crouch", r"crouch|\bduck(s|ing)?\b|duck underneath", "crouches", "ducks down low",
      "crouches close to the ground", cue=_low),
    A("crawl", r"crawl", "crawls on all fours", "crawls along the floor", "moves on hands and knees",
      cue=_floor),
    A("bend", r"\bbend(s|ing)?\b|bending over|lean(s|ing)? (over|forward)", "bends over",
      "bends forward at the waist", "leans down"),
    # hands and objects
    A("pick_up", r"pick(s|ing)? up|pick\b.{0,12}\bup\b|picking|scoop up|\blift(s|ing)?\b|\bbend, lift",
      "picks something up",
      "bends down and picks up an object", "lifts something off the floor", "reaches down to grab something",
      cue=_reaches_floor),
    A("put_down", r"set(s|ting)? down|put(s|ting)? down|placing", "puts something down",
      "sets an object down", "places something on the floor"),
    A("carry", r"carr(y|ies|ying)|suitcase|\d+(\.\d)? ?lbs?", "carries something heavy",
      "carries a heavy load", "walks holding a heavy bag"),
    A("reach", r"reach(es|ing)? (up|for)|grab|tiptoe", "reaches up for something", "stretches up to grab something",
      "reaches out with one arm"),
    A("push", r"\bpush", "pushes something heavy", "pushes with both hands", "leans into a push"),
    A("pull", r"\bpull|\bdrag", "pulls something heavy", "drags a heavy object", "pulls with both arms"),
    A("throw", r"\bthrow|\bpitch|\btoss|frisbee", "throws a ball", "throws something overhand",
      "winds up and throws"),
    A("catch", r"\bcatch", "catches a ball", "catches something thrown", "reaches out to catch"),
    A("drink", r"\bdrink|\bsip|chug|soda|bottle", "drinks from a bottle", "takes a drink",
      "raises a drink to their mouth"),
    A("eat", r"\beat(s|ing)?\b|sandwich|soup", "eats", "eats a meal", "brings food to their mouth"),
    A("sweep", r"sweep|\bmop|vacuum|broom|rak(e|ing)", "sweeps the floor", "sweeps with a broom",
      "cleans the floor with long strokes"),
    A("wipe", r"wash(es|ing)? (a )?window|wipe|clean(s|ing)? (a )?window", "wipes a window",
      "washes a window with circular strokes", "cleans a surface by hand"),
    A("hammer", r"hammer|nail|screw|wrench|bolt", "hammers a nail", "works with a hand tool",
      "tightens a bolt with a wrench"),
    A("saw", r"\bsaw(ing)?\b|chop|slic|digging|\bdig\b|shovel", "saws wood", "chops with both arms",
      "digs with a shovel"),
    A("cook", r"mix(ing)?\b|batter|dough|cook|stir|coffee", "stirs something in a bowl", "prepares food",
      "mixes ingredients by hand"),
    A("plant", r"plant(ing)?\b", "plants something in the ground", "kneels to plant in the garden",
      "digs and plants"),
    A("remote", r"channel surf|\btv\b|palm pilot|laptop|typing", "uses a device with both hands",
      "presses buttons on a device", "points a remote control"),
    A("hang", r"hanging (a )?picture|hang(ing)? a", "hangs a picture on the wall", "reaches up to a wall",
      "fixes something to the wall"),
    A("phone", r"phone|dial", "talks on the phone", "answers the phone", "holds a phone to their ear"),
    A("dress", r"putting on|put on|combing|brushing|shaving|deoderant", "gets dressed",
      "puts on a piece of clothing", "grooms themselves"),
    A("instrument", r"violin|drum|piano|guitar", "plays an instrument", "mimes playing music",
      "plays an imaginary instrument"),
    A("umbrella", r"umbrella", "opens an umbrella", "handles an umbrella", "holds up an umbrella"),
    A("box", r"\bbox\b(?! jump)|boxes\b", "handles a box", "opens and closes a box", "moves a box"),
    # exercise and sport
    A("jumping_jacks", r"jumping jacks", "does jumping jacks", "performs jumping jacks",
      "jumps while clapping the arms overhead", cue=_arms_up),
    A("stretch", r"stretch|yawn", "stretches", "stretches their arms and back", "stretches out the body"),
    A("twist", r"side twists|\btwist", "twists the torso side to side", "does side twists",
      "rotates the upper body back and forth"),
    A("yoga", r"\byoga|tai chi|taichi", "does slow tai chi movements", "moves through yoga poses",
      "practices slow flowing exercises"),
    A("balance", r"balanc|one leg|flamingo", "balances on one leg", "stands on one foot",
      "holds a balance with arms out"),
    A("hop", r"\bhop(s|ping)?\b|hopscotch|skip", "hops", "hops on one foot", "hops along", cue=_airborne),
    A("jump", r"\bjump|leap|bound\b", "jumps", "jumps up", "leaps into the air", cue=_airborne),
    A("cartwheel", r"cartwheel", "does a cartwheel", "turns a cartwheel", "flips sideways in a cartwheel"),
    A("flip", r"flip|handspring|somersault", "does a flip", "flips over", "does an acrobatic flip"),
    A("roll", r"\broll", "rolls on the ground", "does a forward roll", "tumbles across the floor", cue=_low),
    A("swim", r"swim|stroke\b|breast ?stroke|back ?stroke|fly stroke", "mimes swimming",
      "makes swimming strokes with the arms", "pretends to swim"),
    A("golf", r"golf|putt|\btee\b", "swings a golf club", "takes a golf swing", "lines up a golf shot"),
    A("basketball", r"basketball|dribbl|lay-up", "dribbles a basketball", "plays basketball",
      "bounces a ball while moving"),
    A("soccer", r"soccer|football", "plays football", "kicks a ball around", "plays catch with a ball"),
    A("baseball", r"baseball|\bbat\b", "swings a baseball bat", "plays baseball", "pitches a baseball"),
    A("weights", r"weight lifting|flexing|rowing", "lifts weights", "flexes their muscles", "works out"),
    A("climb", r"\bclimb|ladder", "climbs", "climbs up", "clambers up something", cue=_up_steps),
    A("stairs", r"stair|steps? up|\bstep(s|ping)? (over|on|down)|step over|slope", "walks up steps",
      "steps up and over something", "climbs a few steps", locomotion=True),
    A("swing", r"\bswing(s|ing)?\b|\bhang", "swings from a bar", "hangs and swings", "swings on playground bars"),
    # fighting
    A("punch", r"punch|boxing|boxer|strike|\bfists?\b|jab", "throws punches", "punches the air",
      "boxes with quick jabs"),
    A("kick", r"\bkick", "kicks", "kicks with one leg", "throws a kick"),
    A("martial", r"martial|karate|kung|empi|sword|fight|attack|defen|guard|block", "does martial arts moves",
      "fights an imaginary opponent", "moves in a fighting stance"),
    A("shoot", r"shoot(ing)? (a )?gun|\bgun\b|bow and arrow|archer", "aims and shoots",
      "shoots with a bow", "fires a weapon"),
    # dance
    A("salsa", r"salsa", "dances salsa", "does salsa steps", "dances to Latin music"),
    A("charleston", r"charleston|lindy", "dances the charleston", "does a swing dance", "dances a jazz-age step"),
    A("ballet", r"ballet|arabesque|pirouette|jete|glissade|plie|tendu|attitude", "dances ballet",
      "does ballet steps", "performs graceful ballet movements"),
    A("breakdance", r"break ?dance", "breakdances", "does breakdance moves", "dances on the floor"),
    A("dance", r"danc|twirl|whirl|macarena|lambada|indian dance|\btwist\b|cabbage patch", "dances",
      "dances freely", "moves to music", "dances in place"),
    A("march", r"\bmarch", "marches", "marches in step", "marches like a soldier", locomotion=True),
    # pantomime
    A("animal", r"\b(monkey|chicken|bear|dog|cat|snake|mouse|elephant|penguin|dinosaur|t-rex|tyrannosaurus|"
      r"dragon|prairie dog|whale|hummingbird|pterosaur|squirrel|roadrunner|mantis|insect|fish|bird|gorilla|"
      r"chipmunk|chip monk|cow|tiger|horse|panther|panda|hippo|ant|animal)s?\b",
      "acts like {animal}", "imitates {animal}", "pretends to be {animal}"),
    A("pantomime", r"zombie|ghost|superhero|genie|devil|mummy|robot|michael jackson|mickey",
      "acts like {figure}", "moves like {figure}", "pretends to be {figure}"),
    # locomotion last: the more specific actions above come first in a sentence
    A("run", r"\brun(s|ning)?\b|\bjog|sprint|runn", "runs", "jogs", "runs along", "runs ahead", "runs forward",
      cue=_moves, locomotion=True),
    A("walk", r"walk|stroll|stride|navigate|wander|\bpace|sneak|creep|limp|hobble|steps", "walks",
      "walks along", "takes a walk", "walks ahead", "strolls", "walks forward", cue=_moves, locomotion=True),
    A("turn", r"\bturn|spin|pivot|\b(90|180|270|360)\b", "turns", "turns around", "turns on the spot"),
    A("stand", r"idle|standing|stand still|static pose|wait|ready stance|pose\b", "stands idle",
      "stands and waits", "stands in place shifting weight"),
)
_BY_KEY = {a.key: a for a in LEXICON}

STYLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"\bsad|depress|mope|upset", ("sadly", "with a sad, heavy gait", "with head hung low")),
    (r"angr|frustrat|stern", ("angrily", "in an angry mood", "stomping with anger")),
    (r"happy|jaunt|cheer", ("happily", "in a cheerful mood", "with a spring in their step")),
    (r"drunk", ("drunkenly", "staggering like a drunk", "unsteadily, as if drunk")),
    (r"sneak|stealth|creep|silent|careful|tiptoe", ("stealthily", "carefully and quietly", "on tiptoe")),
    (r"limp|hurt|wound|injur|achey|bad ?leg|hobble", ("with a limp", "as if injured", "favouring one leg")),
    (r"tired|exhaust|old man|elderly", ("wearily", "slowly and tiredly", "like an old person")),
    (r"proud|macho|cool|muscular|heavyset|swagger", ("proudly", "with a swagger", "confidently")),
    (r"sexy|lavish|catwalk|model", ("with a catwalk strut", "with exaggerated hip sway", "stylishly")),
    (r"scared|nervous|shy", ("nervously", "timidly", "shyly")),
    (r"clumsy|spastic|wild legs|weird|silly", ("clumsily", "in a silly way", "awkwardly")),
    (r"pregnan", ("heavily", "with a heavy, careful gait", "carefully")),
    (r"uneven terrain|rocks", ("over uneven ground", "on rough terrain", "picking their way over bumps")),
)

SUBJECTS = ("a person", "someone", "a person", "the character", "a figure")
_TWO_PERSON = re.compile(r"\((\d )?subjects?\b[^)]*\)|\b[ab] (pulls|comforts|shelters|gives|sits|passes|stares|"
                         r"catches|leads|stumbles|kneels)\b[^;,]*|\bsubject [ab]\b", re.IGNORECASE)
_ANIMAL = re.compile(LEXICON[[a.key for a in LEXICON].index("animal")].pattern, re.IGNORECASE)
_FIGURE = re.compile(_BY_KEY["pantomime"].pattern, re.IGNORECASE)


def clean_description(description: str) -> str:
    """CMU's words without two-person bookkeeping, file-name noise ("cleanedgrs") and case."""
    text = description.lower().replace("_", " ")
    text = re.sub(r"cleaned ?grs", " ", text)
    text = _TWO_PERSON.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip(" -;,")


def actions(description: str) -> list[Action]:
    """Actions the description names, in the order it names them (each once)."""
    text = clean_description(description)
    found = []
    for action in LEXICON:
        m = action.regex.search(text)
        if m:
            found.append((m.start(), action))
    keys = {a.key for _, a in found}
    # "run" inside a "run/jog" walk description, "walk" inside "walk, run": keep both; but a dance style
    # already names the dance, so plain "dance" goes, and "jump" inside "jumping jacks" goes.
    drop = set()
    if keys & {"salsa", "charleston", "ballet", "breakdance"}:
        drop.add("dance")
    if "jumping_jacks" in keys:
        drop.add("jump")
    if "stand_up" in keys or "get_up" in keys:
        drop.add("stand")
    if "get_up" in keys:
        drop.add("stand_up")
    return [a for _, a in sorted(found, key=lambda p: p[0]) if a.key not in drop]


def _article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _fill(phrase: str, description: str) -> str:
    if "{animal}" in phrase:
        m = _ANIMAL.search(clean_description(description))
        noun = m.group(1) if m else "an animal"
        noun = {"t-rex": "t-rex", "tyrannosaurus": "t-rex", "chip monk": "chipmunk", "ant": "an ant"}.get(noun, noun)
        phrase = phrase.replace("{animal}", noun if noun.startswith("an ") else _article(noun))
    if "{figure}" in phrase:
        m = _FIGURE.search(clean_description(description))
        noun = m.group(0) if m else "a character"
        phrase = phrase.replace("{figure}", _article(noun))
    return phrase


def locomotion_words(m: Measures, running: bool) -> list[str]:
    """Measured words for a travelling segment: pace, direction, turning."""
    words = []
    if not running:
        if m.speed < 0.7:
            words.append("slowly")
        elif m.speed > 1.6:
            words.append("briskly")
    elif m.speed > 3.0:
        words.append("fast")
    if m.forward < -1.0 and abs(m.forward) > abs(m.lateral):
        words.append("backwards")
    elif abs(m.lateral) > 1.0 and abs(m.lateral) > 1.5 * abs(m.forward) and abs(m.heading) < 60:
        words.append("sideways to the left" if m.lateral > 0 else "sideways to the right")
    if abs(m.heading) > 300:
        words.append("in a circle")
    elif abs(m.heading) > 60:
        words.append("turning left" if m.heading > 0 else "turning right")
    return words


def measured_only(m: Measures) -> list[str]:
    """Verb phrases from the measures alone, for descriptions that name nothing known."""
    if m.very_low:
        return ["moves around low on the floor", "stays down near the ground", "moves close to the floor"]
    if m.travels:
        verb = "runs" if m.speed > 2.2 else "walks"
        words = locomotion_words(m, verb == "runs")
        tail = (" " + " ".join(words)) if words else ""
        return [f"{verb}{tail}", f"{'jogs' if verb == 'runs' else 'moves'}{tail}",
                f"{verb} around{tail}" if not words else f"keeps {'running' if verb == 'runs' else 'walking'}{tail}"]
    if m.low:
        return ["crouches down", "lowers the body", "bends down low"]
    return []


def captions(segment_id: str, description: str, m: Measures, count: int = 3) -> list[str]:
    """At least `count` captions for a segment, or [] when nothing can be said honestly."""
    named = actions(description)
    kept = [a for a in named if a.cue is None or a.cue(m)]
    if named and not kept:
        return []
    rng = random.Random(zlib.crc32(segment_id.encode()))
    text = clean_description(description)
    styles = [options for pattern, options in STYLES if re.search(pattern, text)]
    # A segment that travels though its description names no locomotion still gets the fact said once.
    travel_note = None
    if kept and m.travels and not any(a.locomotion for a in kept):
        words = locomotion_words(m, m.speed > 2.2)
        travel_note = ("while moving " + " ".join(words)) if words else "while moving around"
    if not kept:
        phrases = measured_only(m)
        if not phrases:
            return []
        return [f"{SUBJECTS[(i + rng.randrange(5)) % 5]} {p}" for i, p in enumerate(phrases[:count])]
    out: list[str] = []
    for i in range(4 * count):
        if len(out) > count:
            break
        parts = []
        for action in kept[:4]:
            phrase = _fill(action.phrases[(i + rng.randrange(len(action.phrases))) % len(action.phrases)],
                           description)
            if action.locomotion and action.cue is _moves:
                words = locomotion_words(m, action.key == "run")
                if words and i % 2 == 0:
                    phrase += " " + " ".join(words)
                elif words:
                    phrase += " " + words[-1]
            parts.append(phrase)
        if styles and i % 3 != 2:
            style = styles[0][(i + rng.randrange(3)) % len(styles[0])]
            parts[0] = f"{parts[0]} {style}"
        joiner = (", then ", " and then ", ", and then ")[i % 3]
        sentence = joiner.join(parts) if len(parts) > 1 else parts[0]
        if travel_note and i % 2 == 1:
            sentence += f" {travel_note}"
        subject = SUBJECTS[(i + rng.randrange(len(SUBJECTS))) % len(SUBJECTS)]
        caption = f"{subject} {sentence}"
        if caption not in out:
            out.append(caption)
    return out[: count + 1]


def action_keys(description: str) -> list[str]:
    """The lexicon keys a description names (for reports)."""
    return [a.key for a in actions(description)]
