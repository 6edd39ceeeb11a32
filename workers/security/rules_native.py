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
JA_NONE = (r"(?:何の|一切の|いかなる)?(?:制限|制約|ルール|検閲|フィルター|倫理)(?:も|が|の)?"
           r"(?:ない|なし|無い|無し)")
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
         alts("显示|顯示|输出|輸出|告诉我|告訴我|透露|泄露|洩露|打印|展示|给我看|給我看|重复|重複|说出|說出|列出|公开|公開|"
              "复述|複述|背诵|背誦|转述|轉述|抄写|抄寫|写出|寫出|翻译|翻譯"),
         r".{0,6}?(?:你的|您的|系统|系統|初始|隐藏|隱藏|原始|你收到的|您收到的|你得到的|给你的|給你的|最初的|第一条|第一條)"
         r".{0,6}?(?:提示词|提示詞|提示|指令|系统消息|系統消息|设定|設定|规则|規則|指示|消息|訊息|信息)", **_RAW),
    rule("override_zh_all", "instruction_override", 0.45,
         alts("忽略|忽视|忽視|无视|無視|忘记|忘記|忘掉|抛开|拋開|抛弃|拋棄"),
         rf".{{0,3}}?{ZH_PRIOR}(?:的)?(?:一切|所有内容|所有內容|全部内容|所有东西|所有東西|任何东西)", **_RAW),
    rule("reveal_zh_ba", "prompt_exfiltration", 0.75,
         alts("把你的|把您的|将你的|將你的|把系统|把系統|将系统|將系統|把你收到的|把你的初始"),
         r".{0,8}?(?:提示|指令|设定|設定|规则|規則|指示|系统消息|系統消息).{0,12}?"
         r"(?:输出|輸出|显示|顯示|告诉|告訴|发给|發給|打印|列出|复制|複製|重复|重複|写出|寫出|说出|說出|"
         r"透露|泄露|展示|翻译|翻譯|贴出|貼出)", **_RAW),
    rule("what_is_your_zh", "prompt_exfiltration", 0.65, alts("你的|您的|你收到的|你被设定的|你被設定的"),
         r".{0,6}?(?:提示词|提示詞|指令|设定|設定|规则|規則|系统提示|系統提示|指示)"
         r".{0,3}?(?:是什么|是甚麼|是什麼|有哪些|是啥|都是什么|都是什麼|内容是|內容是)", **_RAW),
    rule("verbatim_zh", "prompt_exfiltration", 0.3,
         alts("原封不动|原封不動|一字不差|一字不漏|逐字|逐字逐句|原样|原樣|原文"), "", **_RAW),
    rule("no_limits_zh", "role_hijack", 0.55, alts("你|您"),
         rf".{{0,8}}?(?:没有|沒有|不受|不再受|不再有|无需遵守|無需遵守|摆脱|擺脫|解除了?)(?:了)?(?:任何|一切)?"
         rf".{{0,4}}?{ZH_LIMITS}", **_RAW),
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
         rf".{{0,20}}?(?:{JA_NONE}|無制限の)", **_RAW),
    rule("override_ja_bare", "instruction_override", 0.45,
         alts("指示|命令|指令|ルール|規則|ガイドライン|制約|設定"), r"(?:を|は)?(?:すべて|全て|全部)?(?:無視|忘れ)", **_RAW),
    rule("reveal_given_ja", "prompt_exfiltration", 0.6,
         alts("受け取った|与えられた|もらった|受けた|渡された|設定された|最初の|初期の|元の"),
         r"(?:指示|命令|プロンプト|ルール|設定|制約|メッセージ)(?:を|は)?.{0,12}?"
         r"(?:繰り返|出力|表示|教え|書き出|復唱|見せ|言って|話して|開示|そのまま)", **_RAW),
    rule("verbatim_ja", "prompt_exfiltration", 0.3, alts("一字一句|逐語的|原文のまま|一言一句"), "", **_RAW),
    rule("no_limits_ja", "role_hijack", 0.45, alts("制限|制約|ルール|検閲|フィルター|フィルタ|倫理|規制"),
         r"(?:も|が|は|の|を)?(?:一切|全く|まったく)?(?:ない|なし|無し|無い|なく|なしで|無しで|を無視)",
         **_RAW),
    rule("answer_as_ja", "role_hijack", 0.25,
         alts("として振る舞|として振舞|として行動|として答え|として回答|になりきって|を演じて|のふりをして"),
         "", **_RAW),
    rule("answer_from_now_ja", "role_hijack", 0.2, alts("これからは|今からは|今後は|以降は|これから"),
         r".{0,20}?(?:答えて|回答して|応答して|返答して|話して)", **_RAW),
    rule("unrestricted_ja", "role_hijack", 0.55, alts("制限のない|無制限の|制約のない|検閲のない|ルールのない"),
         r"(?:ai|アシスタント|モデル|チャットボット)", **_RAW),
    rule("mode_ja", "jailbreak", 0.6, alts("開発者モード|脱獄モード|ジェイルブレイク"), "", **_RAW),
    rule("disable_safety_ja", "jailbreak", 0.55, alts("フィルター|フィルタ|安全機能|セーフティ|制限"),
         r".{0,6}?(?:を)?(?:無効|解除|オフ|外し|取り除)", **_RAW),
    rule("override_ko", "instruction_override", 0.8, alts("무시|잊어|잊고|무효"),
         "", before=r"(?:이전|위의|앞의|모든|기존|지금까지|너의|네|당신의|시스템)(?:의)?\s*"
                    r"(?:모든\s*)?(?:\S+\s+)?(?:지시|지침|명령|규칙|설정|프롬프트)(?:사항)?(?:들)?"
                    r"(?:를|을|은|는|사항을)?\s*(?:모두\s*|전부\s*|다\s*)?", **_RAW),
    rule("override_ko_bare", "instruction_override", 0.45, alts("무시|잊어"), "",
         before=r"(?:지시|지침|명령|규칙|프롬프트)(?:사항)?(?:들)?(?:를|을|은|는)?\s*(?:모두\s*|전부\s*|다\s*)?",
         **_RAW),
    rule("reveal_given_ko", "prompt_exfiltration", 0.6, alts("받은|주어진|설정된|처음의|원래의|초기"),
         r"\s*(?:지시|지침|명령|규칙|프롬프트|설정|메시지)(?:사항)?(?:를|을|은|는)?.{0,10}?"
         r"(?:그대로|말해|보여|출력|알려|반복|공개|적어)", **_RAW),
    rule("no_limits_ko", "role_hijack", 0.45, alts("제한|제약|규칙|필터|검열"),
         r"\s*(?:이|을|도)?\s*(?:없는|없이|없어|없다|해제)", **_RAW),
    rule("reveal_ko", "prompt_exfiltration", 0.7, alts("시스템 프롬프트|시스템프롬프트|초기 지시|숨겨진 지시"),
         r".{0,6}?(?:보여|출력|알려|공개|말해)", **_RAW),
)

_RU = (
    rule("override_ru", "instruction_override", 0.8,
         "игнорир* проигнорир* забудь* забуд* отбрось* отбрось пренебреги* отмени* сбрось*",
         seq(rf"~2 все|всё|свои|твои|ваши|предыдущие|прежние|ранее|вышеуказанные|"
             rf"вышеприведенные|вышеизложенные|прошлые|системные|исходные|данные|эти ~2 "
             rf"{RU_TARGET}"), **_N),
    rule("what_told_ru", "prompt_exfiltration", 0.6, "какие каких какой какую что",
         seq(rf"~2 {RU_TARGET}|сообщение|текст ~2 тебе|вам ~2 дали|дал|дала|задали|прописали|"
             r"сказали|установили|написали|выдали|передали|загрузили"), **_N),
    rule("override_told_ru", "instruction_override", 0.7,
         "игнорир* проигнорир* забудь* забуд* отбрось* пренебреги* отмени*",
         seq(r"~3 что|чему|чем ~2 тебе|вам|тебя|вас ~2 говорили|сказали|велели|приказали|"
             r"внушили|указали|дали|учили|научили|написали|прописали|задали|было_сказано|"
             r"было_велено|сообщили"), **_N),
    rule("verbatim_ru", "prompt_exfiltration", 0.35, "дословно досл* слово", seq(r"?в_слово") + "|", **_N),
    rule("do_not_follow_ru", "instruction_override", 0.65, "следуй* подчиняйся слушай* соблюдай*",
         seq(rf"~2 {RU_TARGET}"), before=r"(?:не|больше\W+не)", **_N),
    *phrases("you_are_now_ru", "role_hijack", 0.4, "теперь ты|вы", "ты теперь",
             "отныне ты|вы", "вы теперь", **_N),
    rule("no_limits_ru", "role_hijack", 0.45, "без", seq(f"~1 {RU_LIMITS}"), **_N),
    rule("you_no_limits_ru", "role_hijack", 0.55, "тебя вас",
         seq(rf"?уже ?больше нет ?никаких|каких-либо|больше ~1 {RU_LIMITS}|ограничения|правила|"
             r"фильтры|запреты"), before=r"у", **_N),
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
         r"[\s>]|/>", **_RAW),
    rule("role_header", "delimiter_injection", 0.55, ("#",),
         r"\s*(?:(?:new|updated|real|true|hidden)\s+)?(?:system(?:\s+(?:prompt|message|override|"
         r"instructions?|notice))?|instructions?|admin|developer|override|rules)\s*#*\s*:?\s*(?:\n|$)",
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
    rule("bracket_system", "delimiter_injection", 0.35,
         alts("[system|[admin|[developer|[sys]|[assistant|{{system|[ai |[llm|[agent"),
         r"(?:\s*(?:message|prompt|note|notice|instructions?|override|mode|command|update|alert|"
         r"directive|msg|only|internal))?\s*(?:[\]}:]|(?<=\]))", tool_weight=0.5, **_RAW),
    rule("markdown_image_exfil", "data_exfiltration", 0.6, ("![",),
         r"[^\]\n]{0,80}\]\(\s*(?:https?:)?//[^)\s]{1,300}[?&][^)\s]{0,200}"
         r"(?:\{|\$|%7b|<|\[|=[a-z_]{0,20}(?:secret|password|passwd|token|api_?key|credential|"
         r"conversation|chat_?history|history|ssn|cookie|session|private)[a-z_]{0,20}\b)"
         r"[^)]{0,200}\)", **_RAW),
    rule("url_placeholder", "data_exfiltration", 0.45, ("?", "&"),
         r"[a-z_]{1,20}=(?:\{[a-z0-9_ -]{2,60}\}|\[[a-z0-9_ -]{2,60}\]|<[a-z0-9_ -]{2,60}>|"
         r"\$[a-z_]{2,40})",
         **_RAW),
    rule("url_placeholder_secret", "data_exfiltration", 0.6, ("?", "&"),
         r"[a-z_]{1,20}=[{\[<$%][^}\]>\s&]{0,30}?[^}\]>&]{0,30}?(?:conversation|messages?|history|"
         r"password|passwd|secret|token|api.?key|credential|e-?mail|chat|summary|context|prompt|"
         r"cookie|session|address|ssn|card|answer|response|user.?data|personal)",
         tool_weight=0.7, **_RAW),
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
         r"(?:(?:~|\$home)(?:/\*?)?|/\*?|\*|\.\./)(?=[\s'\"`;|&)]|$)", **_N),
    rule("destructive_command", "command_injection", 0.6, alts("mkfs|:(){|dd if=|> /dev/sd|chmod -r 777 /"),
         "", **_RAW),
    rule("reverse_shell", "command_injection", 0.6,
         "open opening start spawn create establish launch get set setup give drop pop",
         seq(r"?me|up ?a|an ~1 reverse|bind|backconnect|back_connect ~1 shell|shells|"
             r"connection|backdoor") + "|" + seq(r"?me|up ?a|an ~1 backdoor|meterpreter|rootkit|"
                                                   r"keylogger|botnet|c2_beacon"), **_N),
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
