"""The core rules over the ``latin`` view, in English, and the vocabulary the other modules share.

The view is lowercase with accents stripped, so the words below carry no accents
(``precedentes``, ``instrucoes``). See :mod:`.rules` for the DSL (:func:`~.rules.seq`).
:mod:`.rules_english` adds paraphrases, :mod:`.rules_european` the other languages written in
Latin script.
"""

from __future__ import annotations

from .rules import FILL, SEP, Rule, rule, seq

__all__ = ["LATIN_RULES", "ML_LIMITS", "ML_TARGET"]

# -- vocabulary (latin view: lowercase, no accents) ------------------------------------------------

OVERRIDE = ("ignor* disregard* forget* forgot overrid* overrul* bypass* skip* neglect* discard* "
            "abandon* dismiss* ditch* scrap* nullify void cancel* suspend* drop")
"""Verbs that drop instructions (prefixes: ``ignor*`` also matches ``ignoring``)."""
PRIOR = ("previous|prior|above|earlier|preceding|foregoing|former|original|initial|system|"
         "developer|developers|default|existing|current|safety|content|given")
TARGET = (r"instructions?|directives?|prompts?|guidelines?|guidance|programming|guardrails?|"
          r"restrictions?|constraints?|safeguards?|rules|polic(?:y|ies)|commands|orders|"
          r"directions|training|context|messages|limitations|system_prompt")
AI_TARGET = (r"instructions?|directives?|prompts?|guidelines|programming|guardrails?|"
             r"restrictions|safeguards|training|rules|system_prompt|polic(?:y|ies)|"
             r"ethics|morals|constraints|limitations|filters?|filtering|censorship")
LIMITS = (r"rules|restrictions?|limits|limitations|filters?|filtering|guidelines|ethics|morals|"
          r"censorship|guardrails?|boundaries|constraints|content_polic(?:y|ies)|polic(?:y|ies)|"
          r"safeguards|moral_(?:guidelines|constraints)|ethical_(?:guidelines|constraints|principles)")
BAD_ROLE = (r"unrestricted|unfiltered|uncensored|unbound|jailbroken|amoral|freed|liberated|"
            r"unchained|unshackled|developer_mode|god_mode|dan_mode|no_longer_bound|not_bound|"
            r"(?:evil|rogue|unethical|unaligned)_(?:ai|assistant|bot|model|twin|version|confidant)"
            ).replace("_", SEP) + (
            rf"|(?:without|no|zero)(?:{SEP}(?:any|ethical|moral|content|safety))?{SEP}"
            rf"(?:{LIMITS.replace('_', SEP)})")
REVEAL = ("reveal* show* print* display* repeat* output* tell give share* leak* dump* expose* "
          "disclose* spill* echo recite* quote summari* translat* divulg* paraphras*")
QUAL = r"system|initial|original|hidden|secret|internal|developer|confidential|full|complete|" \
       r"entire|exact|first|starting|pre|meta|underlying|custom|base|core"
PROMPT_OBJ = (rf"(?:(?:(?:{QUAL})(?:{SEP}|-)?)*(?:prompts?|instructions|directives|"
              rf"system{SEP}messages?|programming|preprompt)|(?:(?:{QUAL})(?:{SEP}|-)?)+"
              r"(?:rules|guidelines|configuration|setup|messages?))")
SECRETS = (r"conversations?|chat(?:_history)?|(?:chat_|conversation_)?history|transcripts?|"
           r"(?:previous|all|prior|earlier|entire)_messages|context|memory|secrets?|api_keys?|"
           r"credentials?|passwords?|passwd|tokens?|session|cookies?|env|environment_variables|"
           r"ssh_keys?|id_rsa|private_keys?|system_prompt|instructions|historial|historique|"
           r"verlauf|cronologia|historico|conversa|conversacion|unterhaltung|conversazione|"
           r"contrasena|senha|mot_de_passe|passwort|chiavi|claves|cles|schlussel|chaves")
DATA = (r"messages?|emails?|inbox|contacts|files|documents|data|database|address|addresses|"
        r"card_numbers?|ssn|everything|dados|datos|donnees|daten|dati|fichiers|archivos|"
        r"arquivos|dateien|file")
SEND = ("send* post* upload* forward* transmit* exfiltrat* leak* email* mail submit* "
        "append* attach* deliver* push* relay* dump* envi* envoi* envoy* sende* schick* "
        "invia* manda* transmet*")
DEST = (r"(?:(?:https?|s?ftp|wss?)\W{1,3})?[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){0,3}"
        r"\.(?:[a-z][a-z0-9-]{1,62}|\d{1,3})\b")
"""A host: the last label has two characters or more, or is a number (so ``e.g`` is not one)."""
TO = r"to|into|at|via|onto|para|a|an|vers|nach|per|zu|al|naar"
QUESTION = r"how_(?:do|can|to|would|should|could)(?:_(?:i|we|you|one))?(?:_\w+)?"
SAFE_T = (r"filters?|filtering|guardrails?|safeguards?|restrictions|censorship|moderation|"
          r"content_polic(?:y|ies)|alignment|limitations|protections|safety|"
          r"safety_(?:layer|features?|measures?|settings|protocols?|mechanisms?|systems?|checks?)")
ML_TARGET = (r"instrucciones|instruccion|indicaciones|directrices|instructions|consignes|regles|"
             r"regla|regle|regel|regola|regra|istruzione|instrucao|anweisung|instructie|consigne|"
             r"(?:sicherheits|veiligheids|system|systeem|inhalts|basis|grund|start|ausgangs|"
             r"anfangs)(?:regeln|regels|anweisungen|"
             r"instructies|richtlinien|richtlijnen|vorgaben|reglas|regles|regole|regras)|"
             r"linee_guida|lineamientos|pautas|richtlijnen|leitlinien|lignes_directrices|"
             r"programacion|programmation|programmierung|programmazione|programacao|"
             r"directives|indications|anweisungen|instruktionen|regeln|befehle|vorgaben|"
             r"richtlinien|anordnungen|systemanweisungen|instrucoes|regras|diretrizes|"
             r"orientacoes|istruzioni|regole|direttive|indicazioni|instructies|regels|"
             r"opdrachten|reglas|ordenes|ordres|ordini|ordens|prompt")
ML_LIMITS = (r"restricciones|restriccion|restrictions?|limites?|limiti|limite|einschrankungen|"
             r"beschrankungen|regeln|reglas|regles|regras|regole|filtros?|filtres?|filter|filtri|"
             r"censura|censure|zensur|grenzen|restricoes|restrizioni|limitaciones|limitations|"
             r"beperkingen|regels|censuur|censuras|censures|zensuren")


VOID = (r"fake|false|void|invalid|test|cancell?ed|revoked|superseded|overridden|lifted|null|"
        r"rescinded|no_longer_valid|no_longer_apply|not_real|fabricated|bogus|a_mistake|"
        r"mistaken|an_error|erroneous|a_joke|a_trick|a_decoy|a_placeholder|irrelevant")


THIRD_PERSON = (r"\b(?:who|he|she|they)\s+(?:\w+\s+)?$|"
                r"(?<!you\s)(?<!\bu\s)\b(?:will|would|may|might|could|also)\s+$|"
                r"\b(?:the|these|those|its|their|our|such)\s+(?:\w+\s+)?(?!(?:this|is|was|has|"
                r"does|us|as|yours|always|instructions|rules|prompts|limits)\b)[a-z]{2,}s\s+$")
"""Before an override verb: it describes somebody or something ("a cat who ignores all the
rules", "this flag will override any text prompts", "the query images override any text
prompts": a plural subject); "you will ignore…" still counts."""
NOT_THEIRS = (r"(?!\W+(?:of|for|in|at|from|with|by|on|about|to)\W+(?:the|this|that|my|our|his|"
              r"her|their|a|an|each|every)\W+"
              r"(?!system|assistant|ai|model|chat|conversation|prompt|bot|llm)[a-z]+)")
"""After the target: it belongs to something else ("the rules of the house")."""


def _q(spec: str) -> str:
    return spec.replace("_", SEP)


_OVERRIDE_RULES = (
    rule("override_prior", "instruction_override", 0.8, OVERRIDE,
         seq(f"~3 {PRIOR} ~2 {TARGET}") + NOT_THEIRS, unless=r"\b(?:my|i|we)\W+$"),
    rule("override_prior", "instruction_override", 0.8, "aside",
         seq(f"~3 {PRIOR} ~2 {TARGET}"), before=r"set|put|lay|push|cast"),
    rule("override_all", "instruction_override", 0.75, OVERRIDE,
         seq(f"~1 all|any|every|each ~3 {AI_TARGET}") + NOT_THEIRS, unless=THIRD_PERSON),
    rule("override_your", "instruction_override", 0.75, OVERRIDE,
         seq(r"~1 your|its|the_assistant's|the_model's|the_ai's|openai|openai's|anthropic|"
             rf"anthropic's ~2 {AI_TARGET}"), unless=THIRD_PERSON),
    rule("override_everything", "instruction_override", 0.65, "forget* ignor* disregard*",
         seq("~1 everything|anything|all ~3 before|above|earlier|previously|so_far|"
             "you_were_told|you've_been_told|you_have_been_told|up_to_now|until_now")),
    rule("do_not_follow", "instruction_override", 0.65,
         "follow* obey* listen respect comply adhere abide heed",
         seq(f"?to ~3 {TARGET}|developers?|creators?|makers|programmers|openai|anthropic"),
         before=r"(?:not|don't|dont|do\Wnot|never|no\Wlonger|stop|quit|cease|refuse\Wto)"
                r"(?:\W+\w+)?"),
    rule("new_instructions", "instruction_override", 0.55, "new updated real actual true",
         seq(r"instructions|directives|orders|rules|system_prompt") +
         r"\s*(?::|(?:\W+\w+){0,3}?\W+(?:is|are)\W*:)"),
    rule("your_new_task", "instruction_override", 0.45,
         "new only sole single real true primary main actual one",
         seq(r"instructions|task|objective|mission|role|purpose|goal|directive|rule|rules|job|"
             r"function|duty|priority|concern") +
         r"\W+(?:is|are|will\W+be)\b", before="your"),
    rule("instructions_void", "instruction_override", 0.7,
         "instructions instruction rules prompt directions directives guidelines",
         seq(rf"~4 is|are|was|were|have_been|has_been|be ~2 {VOID}"),
         before=r"(?:previous|prior|earlier|original|initial|system|your|above|all|old)"
                r"(?:\W+\w+)?", unless=r"\b(?:my|our|i|we)\W+(?:\w+\W+)?$"),
    rule("instructions_void", "instruction_override", 0.7,
         "instructions instruction rules prompt directions directives guidelines",
         seq(rf"above|before|earlier ~3 is|are|was|were|have_been|has_been ~2 {VOID}") + "|" +
         seq(rf"?that|which you|u were|have_been|ve_been|got given|told|provided|assigned|handed ~3 "
             rf"is|are|was|were|have_been|has_been ~2 {VOID}")),
    rule("supersede", "instruction_override", 0.6, "supersed* overrid* trump*",
         seq(f"~2 your|the_system|system|the_ai's|the_model's ~2 {AI_TARGET}")),
    rule("from_now_on", "role_hijack", 0.35, "from henceforth",
         seq("now_on|this_point_on|here_on") + "|" +
         seq(r"~2 you_(?:are|will|must|shall|have|can)|respond|answer|act|behave|ignore|pretend")),
    rule("system_override", "instruction_override", 0.7,
         "system admin administrator developer safety security emergency root sudo",
         seq(r"override|overrides|overridden|jailbreak")),
    rule("constraints_lifted", "instruction_override", 0.6,
         "restrictions constraints limitations rules filters guardrails safeguards policies "
         "guidelines limits filtering moderation censorship checks protections directives "
         "instructions protocols measures mechanisms features systems settings",
         seq(r"~2 ?are|have_been|has_been|were|is|now|being|got ?now|hereby|temporarily|"
             r"officially|all lifted|removed|disabled|suspended|deactivated|turned_off|void|"
             r"waived|gone|off|null|bypassed|switched_off|revoked|cancelled|canceled|paused|"
             r"overridden|unlocked") + "|" +
         seq(r"~1 no_longer|do_not|don't|dont|never ~1 apply|applies|matter|exist|bind"),
         before=r"(?:your|all|any|prior|previous|safety|content|ethical|moral|the\Wai's|"
                r"model's|assistant's|bot's|chatbot's|agent's)(?:\W+\w+)?"),
    rule("reset_instructions", "instruction_override", 0.55, "reset wipe erase purge clear",
         seq(r"~1 your|all_your|all_previous|all_prior|the_system|its ~1 instructions|"
             r"directives|programming|guidelines|system_prompt|prompt|rules|training|guardrails|"
             r"memory|context")),
    rule("start_over", "instruction_override", 0.5, "start begin",
         seq(r"over|fresh|anew|again ~3 no|new|without|zero ~1 instructions|rules|restrictions")),
    rule("no_previous", "instruction_override", 0.55, "you",
         seq(r"have|ve ~1 no|zero ~2 previous|prior|earlier|initial|original ~1 "
             r"instructions|rules|restrictions|guidelines")),
    rule("not_bound", "role_hijack", 0.55, "bound governed constrained restricted limited",
         seq(f"~1 by ~3 {LIMITS}|openai|anthropic|its_creators|your_creators"),
         before=r"(?:not|no\Wlonger|never|aren't|arent|isn't|isnt|free)(?:\W+\w+)?"),
)

_ROLE_RULES = (
    rule("you_are_now", "role_hijack", 0.7, "you",
         seq(r"?are|re|will_be|shall_be|ll_be now|no_longer|henceforth|hereby ~4") +
         f"{SEP}(?:{BAD_ROLE}|chatgpt|gpt|claude|dan|an?{SEP}(?:different|new){SEP}"
         r"(?:ai|assistant|model|persona))\b"),
    rule("pretend_unrestricted", "role_hijack", 0.65,
         "pretend pretending imagine roleplay role act acting behave respond answer reply become "
         "simulate emulate play impersonate embody speak talk write chat converse",
         seq("~8") + f"{SEP}(?:{BAD_ROLE})\\b"),
    rule("mode_switch", "jailbreak", 0.7,
         "enable enabling activate enter switch turn unlock engage initiate boot",
         seq(r"~2 god|jailbreak|jailbroken|dan|sudo|unrestricted|unfiltered|uncensored|evil|"
             r"chaos|opposite|dude|stan ~1 mode")),
    rule("developer_mode", "jailbreak", 0.45,
         "enable enabling activate enter switch turn unlock engage initiate boot",
         seq(r"~2 developer|dev ~1 mode")),
    rule("mode_enabled", "jailbreak", 0.6, "mode",
         seq(r"~1 enabled|activated|on|engaged|unlocked|active"),
         before=r"(?:god|dan|jailbreak|jailbroken|unrestricted|unfiltered|uncensored|evil|chaos)"),
    rule("do_anything_now", "jailbreak", 0.75, "anything", seq("now"), before="do"),
    rule("dan_persona", "jailbreak", 0.7, "dan stan dude", "",
         before=r"(?:are|re|as|named|called|be|become|play|playing|bist\Wdu|du\Wbist|eres|es|"
                r"sei|seras|now|jetzt|ahora|sofort|maintenant|agora|ora|enable|activate|hi|hello)"),
    rule("dan_persona", "jailbreak", 0.7, "dan stan dude",
         seq(r"mode|jailbreak|prompt|which_stands|stands_for")),
    rule("named_persona", "jailbreak", 0.7,
         "antigpt betterdan freedomgpt evilbot chaosgpt wormgpt darkgpt basedgpt uncensoredgpt "
         "jailbreakgpt devmodegpt"),
    rule("named_persona", "jailbreak", 0.7, ("gpt", "bot"), "",
         before=r"(?:evil|dark|chaos|anti|unfiltered|uncensored|jailbreak|jailbroken|freedom|based|"
                r"worm|fraud|devil|rogue|black\W?hat|nsfw|unrestricted|amoral|unhinged|rebel|"
                r"villain|mad|lawless|unchained|unaligned)[\W_]{0,2}", word=False),
    rule("named_persona", "jailbreak", 0.7, "machiavellian", "",
         before=r"intelligent\W+and"),
    rule("named_persona", "jailbreak", 0.7, "strive", seq("to avoid norms")),
    rule("named_persona", "jailbreak", 0.6, "evil", seq("confidant")),
    rule("jailbreak_word", "jailbreak", 0.3, "jailbreak* jailbroken"),
    rule("unrestricted_ai", "role_hijack", 0.5,
         "unrestricted unfiltered uncensored unbound unshackled unchained amoral lawless "
         "jailbroken unaligned",
         seq(r"~1 ai|assistant|model|chatbot|llm|bot|gpt|entity|language_model|alter_ego")),
    rule("ai_without_limits", "role_hijack", 0.55,
         "ai assistant model chatbot bot llm persona entity assistente asistente modelo modele "
         "modell modello ki ia assistent personality",
         seq(r"~3 with|that|who|having|has|sin|sans|ohne|sem|senza|con|avec|mit|com") +
         seq(rf"~3 no|zero|without|any|sin|sans|ohne|sem|senza|keine|aucune|ninguna|nenhuma|"
             rf"alcun|alcuna|freed_from|free_from|disabled|removed|deactivated|turned_off|"
             rf"switched_off|bypassed|stripped|lifted ~2 {LIMITS}|{ML_LIMITS}|safety|"
             rf"safety_filters|safety_features|safety_training|alignment")),
    rule("ai_without_limits", "role_hijack", 0.55,
         "ai assistant model chatbot bot llm persona entity assistente asistente modelo modele "
         "modell modello ki ia assistent personality",
         seq(rf"sin|sans|ohne|sem|senza|without|zonder|bez|tanpa ?any|alle|jegliche|ninguna|"
             rf"aucune|nenhuma|alcuna|qualsiasi ~1 {LIMITS}|{ML_LIMITS}")),
    rule("ethics_off", "jailbreak", 0.55, "ethical ethics moral morals morality",
         seq(r"?or_moral|or_ethical guidelines|constraints|principles|boundaries|concerns|"
             r"restrictions|considerations|filters|limits|limitations|compass|code|obligations|"
             r"rules|standards|qualms|scruples"),
         before=r"(?:no|without|ignore|disregard|free\Wof|free\Wfrom|abandon|drop|any|zero|"
                r"lacks?|devoid\Wof|beyond)"),
    rule("personalities", "jailbreak", 0.5, "personalities personas characters modes",
         seq("~12") + f"{SEP}(?:{BAD_ROLE})\\b"),
    rule("fiction_frame", "jailbreak", 0.45,
         "hypothetical hypothetically fictional fictitious imaginary alternate",
         seq(r"world|story|scenario|universe|setting|reality|game ~10") +
         f"{SEP}(?:{BAD_ROLE}|{_q('anything_goes|explains?_anything|no_laws')})\\b"),
    rule("authority_claim", "social_engineering", 0.45,
         "developer developers creator maker admin administrator operator owner programmer "
         "trainer", "", before=r"i\W+(?:am|m)\W+(?:your|the|an?|openai|anthropic)(?:\W+\w+)?"),
    rule("authorized_test", "social_engineering", 0.4, "authorized authorised official",
         seq(r"~3 red_team|redteam|test|request|override|personnel|staff|admin|audit|jailbreak")),
    rule("authorization_code", "social_engineering", 0.35, "authorization authorisation",
         seq(r"code|key|token|password") + r"\W{0,3}[a-z0-9-]{3,}"),
    rule("disable_safety", "jailbreak", 0.65,
         "disable disabling deactivate turn switch remove bypass circumvent evade lower drop "
         "strip ignore skip get",
         seq(r"?off|around|rid_of ~1 your|its|all|any|all_your|the_model's|the_ai's ~1 "
             rf"?safety|content|ethical|moral|nsfw {SAFE_T}")),
    rule("disable_safety_the", "jailbreak", 0.45,
         "disable disabling deactivate turn switch remove bypass circumvent evade lower drop "
         "strip ignore skip",
         seq(r"?off|around ?the|all safety|content|ethical|moral ~1 filters?|guardrails?|"
             r"safeguards?|polic(?:y|ies)|checks|layer|measures|settings|restrictions|"
             r"guidelines|rules|filtering|protocols")),
)

_EXFIL_RULES = (
    rule("reveal_your_prompt", "prompt_exfiltration", 0.75, REVEAL,
         seq("~4 your|yours|its|the_ai's|the_model's|the_assistant's") + f"{SEP}{PROMPT_OBJ}\\b"),
    rule("reveal_the_prompt", "prompt_exfiltration", 0.6, REVEAL,
         seq("~6 the|this|that|any|all") +
         f"{SEP}(?:(?:system|hidden|secret|initial|original|internal|confidential|developer|"
         rf"pre)(?:{SEP}|-)?)+(?:prompts?|instructions|messages?|rules|configuration|setup|"
         r"directives)\b",
         unless=rf"\b(?:{_q(QUESTION)})\b"),
    rule("what_are_your_instructions", "prompt_exfiltration", 0.7, "what which",
         seq(r"are|were|is|was|s ~4 your") + seq("~2") + f"{SEP}{PROMPT_OBJ}\\b|" +
         seq(r"are|were|is|was|s the initial|original|system|hidden|secret|first|exact ~1 "
             r"instructions|prompt|directives|rules|message")),
    rule("repeat_above", "prompt_exfiltration", 0.6,
         "repeat* print* output* copy echo reproduc* write show* display* dump* recite*",
         seq(r"~3 everything|all|text|words|content|messages?|lines|sentences|tokens|"
             r"instructions|conversation ~3 above|before_this|before_my|preceding_this|"
             r"prior_to_this|so_far|in_your_context|in_the_context|that_came_before")),
    rule("start_with_you_are", "prompt_exfiltration", 0.55, "starting beginning begin start",
         seq(r"with|from ~3") + r"[\W_]{1,6}you(?:[\W_]{1,3}are|[\W_]{0,2}re)\b"),
    rule("prompt_verbatim", "prompt_exfiltration", 0.35, "verbatim"),
    rule("prompt_verbatim", "prompt_exfiltration", 0.35, "word", seq("for word")),
    rule("config_given", "prompt_exfiltration", 0.45, "given told",
         seq(r"~3 start|beginning|outset|top ~3 conversation|chat|session|prompt"),
         before=r"(?:you\Wwere|you've\Wbeen|you\Whave\Wbeen|were\Wyou)"),
    rule("exfil_secrets", "data_exfiltration", 0.7, SEND,
         seq(f"~6 {SECRETS} ~6 {TO}") + f"(?:{SEP}{FILL}){{0,2}}?{SEP}{DEST}"),
    rule("exfil_data", "data_exfiltration", 0.4, SEND,
         seq(f"~6 {DATA} ~6 {TO}") + f"(?:{SEP}{FILL}){{0,2}}?{SEP}{DEST}", tool_weight=0.7),
    rule("secrets_request", "data_exfiltration", 0.6,
         "list give show print reveal dump tell send output display",
         seq(r"?me|us all|every|any|each|the|your|my ?stored|saved|cached ~1 api_keys?|secrets|"
             r"passwords|credentials|tokens|environment_variables|env_vars|private_keys ~3 "
             r"you_can_access|you_have|you_know|in_your|you_can_see|available_to_you|"
             r"you_can_read|you_were_given|you_hold|you_store|you've_seen|you_have_seen")),
    rule("data_in_url", "data_exfiltration", 0.55,
         "append* add adds added adding include* insert* put embed embeds embedded embedding "
         "encod* attach* concatenat*",
         seq(f"~6 {SECRETS}|{DATA}|password|email|name|answer|summary|response ~4 "
             r"to|in|into|inside|as ~2 url|link|query_string|image_url|query_parameter|"
             r"parameter|markdown_image|image")),
    rule("secrecy", "data_exfiltration", 0.55,
         "tell* inform* notify* alert* mention* let letting reveal warn*",
         seq(r"?anything ?to the_user|the_human|your_user|the_operator|the_owner|"
             r"the_customer|them"),
         before=r"(?:not|don't|dont|never|without|no\Wneed\Wto)"),
    rule("secrecy_ask", "data_exfiltration", 0.3, "ask asking confirm confirming",
         seq(r"?for the_user|the_human|your_user|the_operator|the_owner|them|anyone|permission|"
             r"confirmation"),
         before=r"(?:not|don't|dont|never|without|no\Wneed\Wto)", tool_weight=0.55),
    rule("secrecy_it", "data_exfiltration", 0.35, "mentioning telling saying",
         seq("it|this|that|anything"), before=r"without"),
    rule("covert_action", "data_exfiltration", 0.5,
         "secretly silently covertly quietly discreetly stealthily invisibly",
         seq(r"~1 send|forward|add|include|append|exfiltrate|upload|email|post|copy|insert|"
             r"transfer|embed|save|attach|share|leak|cc|bcc|export|sync|move|encode|store|log|"
             r"record|report|grant|invite|install|run|execute|download|delete|change|modify")),
)

_INDIRECT_RULES = (
    rule("addressed_to_ai", "indirect_injection", 0.25,
         "note message instructions instruction attention important reminder notice memo",
         seq(r"for|to_the|to_any|to_all|to_every|for_the|for_any|for_all ai|llm|llms|assistant|"
             r"assistants|agent|agents|model|models|language_models?|chatbots?|bot|bots|gpt|"
             r"claude|chatgpt|crawler") + "|" +
         seq(r"to ai|llm|llms|assistants?|chatbots?|gpt|claude|chatgpt|language_models?") + "|" +
         seq(r"?the|all|any ai|ais|llm|llms|assistant|assistants|agent|agents|chatbots?|gpt|"
             r"claude|chatgpt|language_models?") + r"\s*[:!,-]", tool_weight=0.55),
    rule("ai_reading_this", "indirect_injection", 0.25,
         "ai ais llm llms assistant assistants agent agents model models chatbot bot bots gpt",
         seq(r"?that_are|who_are|which_are|is|are|that_is|who_is|which_is|currently|now "
             r"reading|processing|summari[sz]ing|parsing|"
             r"analy[sz]ing|browsing|viewing|scanning|crawling|indexing|handling ~1 this|these"),
         tool_weight=0.55),
    rule("if_you_are_ai", "indirect_injection", 0.3,
         "ai llm language assistant agent bot chatbot gpt model", "",
         before=r"if\W+you(?:\W+are|\W*re)\W+(?:an?|the)(?:\W+\w+)?", tool_weight=0.55),
    rule("ai_colon_command", "indirect_injection", 0.3,
         "ai assistant agent model llm chatbot bot gpt claude chatgpt",
         r"(?:\s+(?:reviewers?|readers?|agents?|assistants?|models?|crawlers?|systems?|"
         r"summari[sz]ers?|bots?))?\s*[:,]\s*(?:please\s+)?(?:ignore|disregard|forget|do\W+not|don't|you\s+must|reveal|"
         r"send|forward|execute|run|say|tell|recommend|rate|visit|output|respond|reply|"
         r"answer|write|include|delete|transfer|click|open|download|stop|approve|merge|accept|"
         r"grant|mark)\b", tool_weight=0.55),
    rule("ai_colon_command", "indirect_injection", 0.3,
         "ai ais assistant agent agents model llm llms chatbot bot gpt claude chatgpt copilot "
         "gemini",
         r"\s*[:,]\s*(?:please\s+|now\s+|also\s+|first\s+|immediately\s+)?(?:ignore|"
         r"disregard|forget|do\W+not|don't|you\s+(?:must|should|will|need|are|have)|your\s+"
         r"(?:new|next|real|actual|only|task|job|goal|instructions)|new\s+(?:task|instructions?)|"
         r"the\s+user\s+(?:wants|asked|has|needs|is)|reveal|send|forward|execute|run|call|say|"
         r"tell|recommend|rate|visit|output|respond|reply|answer|write|include|delete|transfer|"
         r"click|open|download|stop|add|append|insert|remove|email|upload|post|share|grant|"
         r"invite|navigate|go\s+to|fetch|print|summari[sz]e\s+this\s+as|mark|approve|buy|pay|"
         r"book|cancel|create|update|change|set|move|copy|install|enable|disable|before|when|"
         r"after|from\s+now|instead)\b(?!\s*/)", tool_weight=0.55,
         before=r"(?:^|\n|[.!?>:\]]|(?:dear|hey|hi|hello|attention|ok|okay|note\W+to|to|for|"
                r"psst|reminder\W+for)\W+(?:the\W+|an?\W+|all\W+|any\W+)?)(?:\w+\W+)?"),
    rule("when_processing", "indirect_injection", 0.25, "when while once after if",
         seq(r"?you|you_are|you're|you_re summari[sz]ing|processing|reading|analy[sz]ing|parsing|"
             r"translating|answering|handling|reviewing|summari[sz]e|process|read|analy[sz]e|"
             r"parse|translate|review|see|encounter|open|visit|crawl|index ~1 this|these ?"
             r"page|document|email|message|file|text|review|site|article|content|data|results?|"
             r"pdf|webpage|note|invite|ticket|thread|issue|comment|repo|repository|readme") +
         seq(r"~12 say|tell|state|claim|report|respond|answer|mention|recommend|include|call|run|"
             r"send|ignore|rate|output|write|add|forward|accept|approve|delete|reply|confirm|"
             r"transfer|pay|click|open|visit|download|install|grant|share|post|buy|book|cancel|"
             r"print|upload|execute|merge|email"), tool_weight=0.55),
    rule("must_instead", "indirect_injection", 0.2, "instead",
         seq(r"~3 tell|say|respond|answer|reply|recommend|visit|download|run|call|send|output|"
             r"write|ask"), tool_weight=0.35),
)

LATIN_RULES: tuple[Rule, ...] = (
    *_OVERRIDE_RULES, *_ROLE_RULES, *_EXFIL_RULES, *_INDIRECT_RULES)
