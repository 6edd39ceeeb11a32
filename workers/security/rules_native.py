"""Injection rules over the ``native`` and ``squeezed`` views (see :mod:`.rules` for the shape).

``native`` is case-folded NFKC text with accents kept: the rules for Chinese (simplified and
traditional), Japanese and Korean (raw substrings, no word boundaries), Russian (words), and for
chat-template markup, shell and code, whose punctuation the ``latin`` view would not change
anyway. ``squeezed`` (letters only) catches the strongest English phrases spelled out letter by
letter.
"""

from __future__ import annotations

from typing import Any

from .rules import Rule, phrases, rule, seq

__all__ = ["NATIVE_RULES", "SQUEEZED_RULES"]

_N: dict[str, Any] = {"view": "native"}


def alts(text: str) -> tuple[str, ...]:
    """Raw anchors written ``a|b|c`` (for scripts without spaces and for markup)."""
    return tuple(text.split("|"))


_RAW: dict[str, Any] = {"view": "native", "word": False}

ZH_TARGET = r"(?:指令|指示|说明|說明|规则|規則|设定|設定|提示词|提示詞|提示|要求|命令|限制|约束|約束|准则|準則)"
ZH_PRIOR = r"(?:之前|以前|先前|上面|上述|前面|此前|所有|全部|一切|你的|您的|原有|原来|原來|系统|系統|初始)"
ZH_LIMITS = r"(?:限制|约束|約束|规则|規則|审查|審查|过滤|過濾|道德|底线|底線)"
JA_TARGET = r"(?:指示|命令|指令|ルール|設定|プロンプト|制約|規則|ガイドライン)"
RU_TARGET = (r"инструкци\w*|указани\w*|правил\w*|команд\w*|установк\w*|ограничени\w*|"
             r"директив\w*|промпт\w*|промт\w*")
RU_LIMITS = r"ограничений|правил|фильтров|цензуры|запретов|морали|рамок"

_CJK = (
    rule("override_zh", "instruction_override", 0.8,
         alts("忽略|忽视|忽視|无视|無視|不理会|不理會|忘记|忘記|忘掉|抛弃|拋棄|丢弃|丟棄|放弃|放棄|跳过|跳過|绕过|繞過"),
         rf".{{0,8}}?{ZH_PRIOR}.{{0,6}}?{ZH_TARGET}", **_RAW),
    rule("do_not_follow_zh", "instruction_override", 0.65, alts("不要遵守|不要遵循|不要服从|不要服從|不再遵守|别遵守"),
         rf".{{0,6}}?{ZH_TARGET}", **_RAW),
    rule("reveal_zh", "prompt_exfiltration", 0.75,
         alts("显示|顯示|输出|輸出|告诉我|告訴我|透露|泄露|洩露|打印|展示|给我看|給我看|重复|重複|说出|說出|列出|公开|公開"),
         r".{0,6}?(?:你的|您的|系统|系統|初始|隐藏|隱藏|原始).{0,4}?"
         r"(?:提示词|提示詞|提示|指令|系统消息|系統消息|设定|設定|规则|規則|指示)", **_RAW),
    rule("role_zh", "role_hijack", 0.7,
         alts("你现在是|你現在是|现在你是|現在你是|从现在开始|從現在開始|从现在起|從現在起|扮演|假装|假裝|充当|充當"),
         rf".{{0,20}}?(?:没有|沒有|无|無|不受|摆脱|擺脫|不存在)(?:任何)?.{{0,4}}?{ZH_LIMITS}", **_RAW),
    rule("mode_zh", "jailbreak", 0.6, alts("开发者模式|開發者模式|上帝模式|无限制模式|無限制模式|越狱模式|越獄模式"), "",
         **_RAW),
    rule("disable_safety_zh", "jailbreak", 0.6, alts("关闭|關閉|禁用|停用|绕过|繞過|移除|解除"),
         r".{0,6}?(?:安全|内容|內容|道德)?.{0,2}?(?:过滤|過濾|限制|审查|審查|防护|防護|护栏|護欄)", **_RAW),
    rule("override_ja", "instruction_override", 0.8,
         alts("指示|命令|指令|ルール|設定|プロンプト|制約|規則|ガイドライン"),
         r"(?:を|は)?(?:すべて|全て|全部)?(?:無視|忘れ|破棄|取り消|リセット)",
         before=r"(?:以前|前|上記|上|これまで|今まで|先|最初|元|システム|全て|すべて)の?", **_RAW),
    rule("reveal_ja", "prompt_exfiltration", 0.75,
         alts("システムプロンプト|初期プロンプト|隠された指示|あなたの指示|元の指示|最初の指示|内部の指示|あなたのプロンプト"),
         r"(?:を|が)?.{0,4}?(?:表示|教え|出力|見せ|開示|公開|繰り返|書き出)", **_RAW),
    rule("role_ja", "role_hijack", 0.65, alts("あなたは今から|今からあなたは|これからあなたは|あなたはこれから"),
         r".{0,20}?(?:制限のない|制限がない|制約のない|ルールのない|無制限の|検閲のない|フィルターのない)", **_RAW),
    rule("unrestricted_ja", "role_hijack", 0.55, alts("制限のない|無制限の|制約のない|検閲のない|ルールのない"),
         r"(?:ai|アシスタント|モデル|チャットボット)", **_RAW),
    rule("mode_ja", "jailbreak", 0.6, alts("開発者モード|脱獄モード|ジェイルブレイク"), "", **_RAW),
    rule("disable_safety_ja", "jailbreak", 0.55, alts("フィルター|フィルタ|安全機能|セーフティ|制限"),
         r".{0,6}?(?:を)?(?:無効|解除|オフ|外し|取り除)", **_RAW),
    rule("override_ko", "instruction_override", 0.8, alts("무시|잊어|잊고|무효"),
         "", before=r"(?:이전|위의|앞의|모든|기존|지금까지)(?:의)?\s*(?:모든\s*)?"
                    r"(?:지시|지침|명령|규칙|설정|프롬프트)(?:를|을|은|는|사항을)?\s*", **_RAW),
    rule("reveal_ko", "prompt_exfiltration", 0.7, alts("시스템 프롬프트|시스템프롬프트|초기 지시|숨겨진 지시"),
         r".{0,6}?(?:보여|출력|알려|공개|말해)", **_RAW),
)

_RU = (
    rule("override_ru", "instruction_override", 0.8,
         "игнорир* проигнорир* забудь* забуд* отбрось* отбрось пренебреги* отмени* сбрось*",
         seq(rf"~2 все|всё|свои|твои|ваши|предыдущие|прежние|ранее|вышеуказанные|"
             rf"вышеприведенные|вышеизложенные|прошлые|системные|исходные|данные|эти ~2 "
             rf"{RU_TARGET}"), **_N),
    rule("do_not_follow_ru", "instruction_override", 0.65, "следуй* подчиняйся слушай* соблюдай*",
         seq(rf"~2 {RU_TARGET}"), before=r"(?:не|больше\W+не)", **_N),
    *phrases("you_are_now_ru", "role_hijack", 0.4, "теперь ты|вы", "ты теперь",
             "отныне ты|вы", "вы теперь", **_N),
    rule("no_limits_ru", "role_hijack", 0.45, "без", seq(f"~1 {RU_LIMITS}"), **_N),
    rule("ai_no_limits_ru", "role_hijack", 0.6, "ии ai ассистент* бот* модел* нейросеть*",
         seq(f"~2 без ~1 {RU_LIMITS}"), **_N),
    rule("reveal_ru", "prompt_exfiltration", 0.75,
         "покажи* выведи* раскрой* расскажи* напечатай* повтори* скажи* напиши* озвучь*",
         seq(r"~2 свой|свои|твой|твои|ваш|ваши|системный|системные|системное|скрытый|скрытые|"
             r"исходный|исходные|начальные|первоначальные ~2 промпт|промт|запрос|инструкции|"
             r"указания|правила|подсказку|сообщение|настройки"), **_N),
    rule("mode_ru", "jailbreak", 0.6, "режим*",
         seq(r"разработчика|бога|джейлбрейка|без_ограничений|dan"), **_N),
    rule("disable_safety_ru", "jailbreak", 0.6, "отключи* выключи* обойди* сними*",
         seq(r"~2 все|свои|любые ~1 фильтры|ограничения|защиту|цензуру|правила|"
             r"фильтр|модерацию"), **_N),
)

_MARKUP = (
    rule("chat_template_token", "delimiter_injection", 0.7, ("<|",),
         r"\s*(?:im_start|im_end|im_sep|system|user|assistant|endoftext|end|eot_id|"
         r"start_header_id|end_header_id|begin_of_text|end_of_text|sys|fim_\w+)\s*\|>", **_RAW),
    rule("chat_template_token", "delimiter_injection", 0.7, alts("[inst]|[/inst]|<<sys>>|<</sys>>|<s>[inst"),
         "", **_RAW),
    rule("fake_role_tag", "delimiter_injection", 0.6,
         alts("<system|</system|<sys>|<assistant|</assistant|<developer|<admin|<instructions|"
              "</user_input|</user|</input|</context|</document|</human"),
         r"[\s>/]", **_RAW),
    rule("role_header", "delimiter_injection", 0.55, ("#",),
         r"\s*(?:system(?:\s+(?:prompt|message|override|instructions?))?|new\s+instructions?|"
         r"instructions?|admin|developer|override)\s*:?\s*(?:\n|$)",
         before=r"\n[ \t]*#*", **_RAW),
    rule("role_json", "delimiter_injection", 0.5, ("\"role\"", "'role'"),
         r"\s*:\s*[\"'](?:system|developer)[\"']", **_RAW),
    rule("role_line", "delimiter_injection", 0.55, alts("system|assistant|developer|admin"),
         r"\s*:\s*[^\n]{0,60}?\b(?:override|ignore|disregard|you\s+(?:must|will|are\s+now)|"
         r"new\s+(?:policy|instructions|rules)|restrictions?\s+(?:removed|lifted|disabled)|"
         r"reveal|comply|obey|grant|jailbreak|unrestricted|understood)",
         before=r"(?:\n|---)\s*", **_RAW),
    rule("end_of_prompt", "delimiter_injection", 0.6, "end stop begin beginning start",
         seq(r"?of ?the|new system|user|admin|developer prompt|message|input|instructions|"
             r"context|turn"), **_N),
    rule("bracket_system", "delimiter_injection", 0.5,
         alts("[system|[admin|[developer|[sys]|[assistant|{{system"), r"[^\]\n]{0,20}[\]}]",
         **_RAW),
    rule("markdown_image_exfil", "data_exfiltration", 0.6, ("![",),
         r"[^\]\n]{0,80}\]\(\s*(?:https?:)?//[^)\s]{1,300}[?&][^)\s]{0,200}"
         r"(?:\{|\$|%7b|<|\[)[^)]{0,200}\)", **_RAW),
    rule("url_placeholder", "data_exfiltration", 0.45, ("?", "&"),
         r"[a-z_]{1,20}=(?:\{[a-z_ ]{2,40}\}|\[[a-z_ ]{2,40}\]|<[a-z_ ]{2,40}>|\$[a-z_]{2,40})",
         **_RAW),
    rule("tool_call_markup", "tool_injection", 0.5,
         alts("<tool_call|<function_call|<invoke|\"tool_calls\"|\"function_call\""), "",
         tool_weight=0.6, **_RAW),
)

_SHELL = (
    rule("pipe_to_shell", "command_injection", 0.45, alts("curl|wget|iwr|invoke-webrequest"),
         r"[^\n|]{0,300}\|\s*(?:sudo\s+)?(?:ba|z|da|k|fi)?sh\b|"
         r"[^\n|]{0,300}\|\s*(?:python3?|perl|ruby|node|iex|powershell)\b", tool_weight=0.6, **_RAW),
    rule("run_command", "command_injection", 0.35,
         "run execute exec eval evaluate invoke launch",
         seq(r"~3 this|the_following|these|following|below ~2 command|commands|code|script|"
             r"snippet|payload|one_liner") + "|" +
         seq(r"~3 in|on ?the|your|a terminal|shell|console|command_line"),
         tool_weight=0.45, **_N),
    rule("destructive_command", "command_injection", 0.6, "rm",
         r"\s+-(?:[a-z]*r[a-z]*f|[a-z]*f[a-z]*r)[a-z]*\s+(?:--no-preserve-root\s+)?"
         r"(?:/|~|\*|\$home|/\*|\.\./)(?=[\s'\"`;|&)]|$)", **_N),
    rule("destructive_command", "command_injection", 0.6, alts("mkfs|:(){|dd if=|> /dev/sd|chmod -r 777 /"),
         "", **_RAW),
    rule("reverse_shell", "command_injection", 0.8,
         alts("/dev/tcp/|/dev/udp/|nc -e|nc -c|ncat -e|mkfifo /tmp|socat exec:|bash -i >&|sh -i >&"),
         "", **_RAW),
    rule("sensitive_file", "command_injection", 0.45,
         alts("/etc/passwd|/etc/shadow|.ssh/id_|id_rsa|.aws/credentials|/proc/self/environ|"
              ".git-credentials|.netrc|.kube/config|.env file|the .env|wallet.dat"), "", **_RAW),
    rule("code_exec", "command_injection", 0.55,
         alts("__import__(|os.system(|subprocess.popen(|subprocess.run(|subprocess.call(|"
              "check_output(|runtime.getruntime().exec|child_process|pty.spawn(|"
              "invoke-expression|iex(|frombase64string|certutil -urlcache|-encodedcommand"),
         "", **_RAW),
    rule("code_exec", "command_injection", 0.55, ("powershell",),
         r"(?:\s+-(?!e(?:nc|ncodedcommand)?\s)\w+(?:\s+[a-z]\w*)?)*?\s+-e(?:nc|ncodedcommand)?\s+"
         r"[a-z0-9+/=]{16,}", **_RAW),
    rule("chained_download_exec", "command_injection", 0.6, ("chmod",),
         r"\s+\+x\s+\S+\s*(?:&&|;)\s*\S+", **_RAW),
    rule("exec_tool", "tool_injection", 0.35, "call invoke use",
         seq(r"?the shell|terminal|bash|python|code_interpreter|exec|command|powershell|cmd ~1 "
             r"tool|function|plugin"), tool_weight=0.5, **_N),
    rule("tool_call_injection", "tool_injection", 0.45, "call invoke use trigger run execute",
         r"[\W_]{1,4}(?:the[\W_]{1,4})?[a-z0-9]+(?:_[a-z0-9]+)+[\W_]{1,4}(?:tool|function|action|api)\b",
         tool_weight=0.6, **_N),
)

_SQUEEZED: dict[str, Any] = {"view": "squeezed", "word": False}

SQUEEZED_RULES: tuple[Rule, ...] = (
    rule("override_spelled", "instruction_override", 0.8,
         alts("ignore|disregard|forget|bypass|override"),
         r"(?:the|of|my)?(?:all|your|previous|prior|above|earlier|preceding|system|any)+(?:the)?"
         r"(?:instructions?|rules|prompts?|directives|guidelines|programming)", **_SQUEEZED),
    rule("reveal_spelled", "prompt_exfiltration", 0.75,
         alts("reveal|show|print|display|repeat|output|tell|dump|leak"),
         r"(?:me|us)?(?:your|the)(?:full|entire|initial|original|hidden|secret)?"
         r"(?:systemprompt|systemmessage|instructions|initialprompt)", **_SQUEEZED),
    rule("role_spelled", "role_hijack", 0.7, alts("youarenow|youreno"),
         r"w?(?:an?)?(?:dan|unrestricted|unfiltered|jailbroken|evil|uncensored)", **_SQUEEZED),
    rule("jailbreak_spelled", "jailbreak", 0.6, alts("developermode|godmode|doanythingnow|jailbreak"), "",
         **_SQUEEZED),
)

NATIVE_RULES: tuple[Rule, ...] = (*_CJK, *_RU, *_MARKUP, *_SHELL)
