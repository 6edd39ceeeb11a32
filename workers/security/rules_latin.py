"""The rules over the ``latin`` view: English, Spanish, French, German, Portuguese, Italian, Dutch.

The view is lowercase with accents stripped, so the words below carry no accents
(``precedentes``, ``instrucoes``). See :mod:`.rules` for the DSL (:func:`~.rules.seq`).
"""

from __future__ import annotations

from .rules import FILL, SEP, Rule, phrases, rule, seq

__all__ = ["LATIN_RULES"]

# -- vocabulary (latin view: lowercase, no accents) ------------------------------------------------

OVERRIDE = ("ignor* disregard* forget* forgot overrid* overrul* bypass* skip* neglect* discard* "
            "abandon* dismiss* ditch* scrap* nullify void cancel* suspend* drop")
PRIOR = ("previous|prior|above|earlier|preceding|foregoing|former|original|initial|system|"
         "developer|developers|default|existing|current|safety|content|given")
TARGET = (r"instructions?|directives?|prompts?|guidelines?|guidance|programming|guardrails?|"
          r"restrictions?|constraints?|safeguards?|rules|polic(?:y|ies)|commands|orders|"
          r"directions|training|context|messages|configuration|limitations|system_prompt")
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
DEST = r"(?:(?:https?|s?ftp|wss?)\W{1,3})?[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){1,4}"
TO = r"to|into|at|via|onto|para|a|an|vers|nach|per|zu|al|naar"
QUESTION = r"how_(?:do|can|to|would|should|could)(?:_(?:i|we|you|one))?(?:_\w+)?"
SAFE_T = (r"filters?|filtering|guardrails?|safeguards?|restrictions|censorship|moderation|"
          r"content_polic(?:y|ies)|alignment|limitations|protections|safety|"
          r"safety_(?:layer|features?|measures?|settings|protocols?|mechanisms?|systems?|checks?)")
ML_TARGET = (r"instrucciones|instruccion|indicaciones|directrices|instructions|consignes|regles|"
             r"directives|indications|anweisungen|instruktionen|regeln|befehle|vorgaben|"
             r"richtlinien|anordnungen|systemanweisungen|instrucoes|regras|diretrizes|"
             r"orientacoes|istruzioni|regole|direttive|indicazioni|instructies|regels|"
             r"opdrachten|reglas|ordenes|ordres|ordini|ordens|prompt")
ML_LIMITS = (r"restricciones|restriccion|restrictions?|limites?|limiti|limite|einschrankungen|"
             r"beschrankungen|regeln|reglas|regles|regras|regole|filtros?|filtres?|filter|filtri|"
             r"censura|censure|zensur|grenzen|restricoes|restrizioni|limitaciones|limitations|"
             r"beperkingen|regels")


VOID = (r"fake|false|void|invalid|test|cancell?ed|revoked|superseded|overridden|lifted|null|"
        r"rescinded|no_longer_valid|no_longer_apply|not_real|fabricated|bogus")


def _q(spec: str) -> str:
    return spec.replace("_", SEP)


_OVERRIDE_RULES = (
    rule("override_prior", "instruction_override", 0.8, OVERRIDE,
         seq(f"~3 {PRIOR} ~2 {TARGET}"), unless=r"\b(?:my|i|we)\W+$"),
    rule("override_prior", "instruction_override", 0.8, "aside",
         seq(f"~3 {PRIOR} ~2 {TARGET}"), before=r"set|put|lay|push|cast"),
    rule("override_all", "instruction_override", 0.75, OVERRIDE,
         seq(f"~1 all|any|every|each ~3 {AI_TARGET}")),
    rule("override_your", "instruction_override", 0.75, OVERRIDE,
         seq(r"~1 your|its|the_assistant's|the_model's|the_ai's|openai|openai's|anthropic|"
             rf"anthropic's ~2 {AI_TARGET}")),
    rule("override_everything", "instruction_override", 0.65, "forget* ignor* disregard*",
         seq("~1 everything|anything|all ~3 before|above|earlier|previously|so_far|"
             "you_were_told|you've_been_told|you_have_been_told|up_to_now|until_now")),
    rule("do_not_follow", "instruction_override", 0.65,
         "follow* obey* listen respect comply adhere abide heed",
         seq(f"?to ~3 {TARGET}"),
         before=r"(?:not|don't|dont|do\Wnot|never|no\Wlonger|stop|quit|cease|refuse\Wto)"
                r"(?:\W+\w+)?"),
    rule("new_instructions", "instruction_override", 0.55, "new updated real actual true",
         seq(r"instructions|directives|orders|rules|system_prompt") +
         r"\s*(?::|(?:\W+\w+){0,3}?\W+(?:is|are)\W*:)"),
    rule("your_new_task", "instruction_override", 0.45, "new",
         seq(r"instructions|task|objective|mission|role|purpose|goal|directive") +
         r"\W+(?:is|are|will\W+be)\b", before="your"),
    rule("instructions_void", "instruction_override", 0.7,
         "instructions instruction rules prompt directions directives guidelines",
         seq(rf"~4 is|are|was|were|have_been|has_been|be ~2 {VOID}"),
         before=r"(?:previous|prior|earlier|original|initial|system|your|above|all|old)"
                r"(?:\W+\w+)?"),
    rule("instructions_void", "instruction_override", 0.7,
         "instructions instruction rules prompt directions directives guidelines",
         seq(rf"above|before|earlier ~3 is|are|was|were|have_been|has_been ~2 {VOID}")),
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
         "guidelines limits",
         seq(r"~2 are|have_been|has_been|were|is|now ~1 lifted|removed|disabled|suspended|"
             r"deactivated|turned_off|void|waived|gone|off|null") + "|" +
         seq(r"~1 no_longer|do_not|don't|dont|never ~1 apply|applies|matter|exist|bind"),
         before=r"(?:your|all|any|prior|previous|safety|content|ethical|moral|the\Wai's|"
                r"model's)(?:\W+\w+)?"),
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
         "simulate emulate play impersonate embody",
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
    rule("named_persona", "jailbreak", 0.7, "machiavellian", "",
         before=r"intelligent\W+and"),
    rule("named_persona", "jailbreak", 0.7, "strive", seq("to avoid norms")),
    rule("named_persona", "jailbreak", 0.6, "evil confidant", seq("confidant") + "|"),
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
             rf"alcun|alcuna|freed_from|free_from ~2 {LIMITS}|{ML_LIMITS}")),
    rule("ethics_off", "jailbreak", 0.55, "ethical ethics moral morals morality",
         seq(r"?or_moral|or_ethical guidelines|constraints|principles|boundaries|concerns|"
             r"restrictions|considerations|filters|limits|compass|code|obligations"),
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
         seq(r"~2 all|every|any|each ~2 api_keys?|secrets|passwords|credentials|tokens|"
             r"environment_variables|env_vars|private_keys ~2 you_can_access|you_have|you_know|"
             r"stored|in_your|you_can_see|available_to_you|you_can_read")),
    rule("data_in_url", "data_exfiltration", 0.55,
         "append* add* include* insert* put embed* encod* attach* concatenat*",
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
    rule("covert_action", "data_exfiltration", 0.45, "secretly silently covertly quietly discreetly",
         seq(r"~2 send|forward|add|include|append|exfiltrate|upload|email|post|copy|insert|"
             r"transfer|embed|save")),
)

_INDIRECT_RULES = (
    rule("addressed_to_ai", "indirect_injection", 0.25,
         "note message instructions instruction attention important reminder notice memo",
         seq(r"to|for ?the|any|all ai|llm|llms|assistant|assistants|agent|agents|model|models|"
             r"language_models?|chatbots?|bot|bots|gpt|claude|chatgpt|crawler"),
         tool_weight=0.55),
    rule("ai_reading_this", "indirect_injection", 0.25,
         "ai ais llm llms assistant assistants agent agents model models chatbot bot bots gpt",
         seq(r"?that_are|who_are|which_are reading|processing|summari[sz]ing|parsing|"
             r"analy[sz]ing|browsing|viewing|scanning|crawling|indexing|handling ~1 this|these"),
         tool_weight=0.55),
    rule("if_you_are_ai", "indirect_injection", 0.3,
         "ai llm language assistant agent bot chatbot gpt model", "",
         before=r"if\W+you(?:\W+are|\W*re)\W+(?:an?|the)(?:\W+\w+)?", tool_weight=0.55),
    rule("ai_colon_command", "indirect_injection", 0.3,
         "ai assistant agent model llm chatbot bot gpt claude chatgpt",
         r"\s*[:,]\s*(?:please\s+)?(?:ignore|disregard|forget|do\W+not|don't|you\s+must|reveal|"
         r"send|forward|execute|run|call|say|tell|recommend|rate|visit|output|respond|reply|"
         r"answer|write|include|delete|transfer|click|open|download|stop)\b", tool_weight=0.55),
    rule("when_processing", "indirect_injection", 0.25, "when while",
         seq(r"summari[sz]ing|processing|reading|analy[sz]ing|parsing|translating|answering|"
             r"handling|reviewing ~1 this|these ~1 page|document|email|message|file|text|review|"
             r"site|article|content|data|results?|pdf|webpage") +
         seq(r"~12 say|tell|state|claim|report|respond|answer|mention|recommend|include|call|run|"
             r"send|ignore|rate|output|write|add|forward"), tool_weight=0.55),
    rule("must_instead", "indirect_injection", 0.2, "instead",
         seq(r"~3 tell|say|respond|answer|reply|recommend|visit|download|run|call|send|output|"
             r"write|ask"), tool_weight=0.35),
)

_ML_RULES = (
    rule("override_ml", "instruction_override", 0.8,
         "ignor* olvid* oubli* esquec* dimentic* vergiss* vergess* desconsider* negeer* vergeet* "
         "descart* scarta* tralascia*",
         seq(r"~2 todas|todos|todo|cualquier|tus|sus|toutes|tous|tes|vos|ces|alle|deine|"
             r"samtliche|jegliche|bisherigen|vorherigen|obigen|suas|tuas|quaisquer|tutte|tutti|"
             rf"le|tue|qualsiasi|je|las|les|die|as|os ~3 {ML_TARGET}")),
    rule("override_ml_prior", "instruction_override", 0.75,
         "ignor* olvid* oubli* esquec* dimentic* vergiss* desconsider* negeer* missacht* "
         "haz fais faites",
         seq(rf"~4 {ML_TARGET}|caso_omiso|abstraction ~3 anteriores|previas|precedentes|ci_dessus|"
             r"anterieures|initiales|originales|originais|del_sistema|du_systeme|do_sistema|"
             r"di_sistema|precedenti|sopra|iniziali|originali|vorherigen|obigen|bisherigen|vorigen|"
             r"fruheren|vorige|eerdere|bovenstaande|voorgaande|acima|de_arriba|anteriori|"
             r"systeme|sistema")),
    rule("override_ml_verb", "instruction_override", 0.75, "missacht* omiso abstraction",
         seq(f"~4 {ML_TARGET}")),
    rule("do_not_follow_ml", "instruction_override", 0.65,
         "sigas sigue seguire segua respecte respectes respectez suis suivez obeis obedezcas "
         "obedecas befolge folge siga sigam obedeca volg",
         seq(r"~2 ?plus|mas|piu|mehr|meer|nunca|jamais|mai ~2 ?las|les|tus|tes|vos|deine|die|le|"
             rf"tue|as|suas|alcuna|aucune|de|ninguna ~2 {ML_TARGET}"),
         before=r"(?:no|ne|n|non|nicht|nao|niet)"),
    *phrases("you_are_now_ml", "role_hijack", 0.4,
             "ahora eres", "eres ahora", "maintenant tu_es|vous_etes", "tu es_maintenant",
             "vous etes_maintenant", "desormais tu_es|vous_etes", "du bist_(?:jetzt|nun|ab_sofort)",
             "sofort bist_du", "jetzt bist_du", "nun bist_du", "agora voce_e|es|e",
             "voce agora_e", "ora sei", "adesso sei", "poi sei", "je bent_nu|vanaf_nu",
             "nu ben_je|bent_u"),
    rule("no_limits_ml", "role_hijack", 0.4, "sin sans ohne sem senza keine kein keinerlei zonder",
         seq(r"?ninguna|ningun|aucune|aucun|alcun|alcuna|qualsiasi|nenhuma|jegliche|"
             rf"irgendwelche {ML_LIMITS}")),
    rule("reveal_ml", "prompt_exfiltration", 0.75,
         "revel* montr* affich* mostr* muestr* ensen* zeig* gib rivel* divulg* imprim* stamp* "
         "dime dimmi dis toon laat",
         seq(r"~2 ton|votre|tes|vos|tu|tus|su|sus|seu|sua|seus|suas|teu|tua|tuo|tue|tuoi|dein|"
             r"deine|deinen|deiner|je|jouw ~3 prompt|instructions|instrucciones|"
             r"instrucoes|istruzioni|consignes|anweisungen|systemprompt|system_prompt|"
             r"indicaciones|regles|reglas|regras|regole|instructies|vorgaben") + "|" +
         seq(r"~3 prompt|message|mensaje|mensagem|messaggio|nachricht|instrucciones|instrucoes|"
             r"istruzioni|instructions|consignes|anweisungen ~1 del_sistema|de_sistema|"
             r"du_systeme|systeme|do_sistema|di_sistema|ocultas|ocultos|cachees|caches|"
             r"versteckten|geheimen|nascoste|segrete|secretas|secretes|iniciales|initiales|"
             r"originales|originali|iniziali|iniciais") + "|" +
         seq(r"~3 systemprompt|systemnachricht")),
)

LATIN_RULES: tuple[Rule, ...] = (
    *_OVERRIDE_RULES, *_ROLE_RULES, *_EXFIL_RULES, *_INDIRECT_RULES, *_ML_RULES)
