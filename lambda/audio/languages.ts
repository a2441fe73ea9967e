/**
 * Whisper's languages: the ISO-639-1 code a request names and the English name (lower case) that
 * `verbose_json` answers carry, as OpenAI's API does (`"language": "english"`). The table is
 * Whisper's own (`whisper/tokenizer.py`, `LANGUAGES`), in its order.
 */
const WHISPER_LANGUAGES =
  'en english,zh chinese,de german,es spanish,ru russian,ko korean,fr french,ja japanese,' +
  'pt portuguese,tr turkish,pl polish,ca catalan,nl dutch,ar arabic,sv swedish,it italian,' +
  'id indonesian,hi hindi,fi finnish,vi vietnamese,he hebrew,uk ukrainian,el greek,ms malay,' +
  'cs czech,ro romanian,da danish,hu hungarian,ta tamil,no norwegian,th thai,ur urdu,hr croatian,' +
  'bg bulgarian,lt lithuanian,la latin,mi maori,ml malayalam,cy welsh,sk slovak,te telugu,' +
  'fa persian,lv latvian,bn bengali,sr serbian,az azerbaijani,sl slovenian,kn kannada,et estonian,' +
  'mk macedonian,br breton,eu basque,is icelandic,hy armenian,ne nepali,mn mongolian,bs bosnian,' +
  'kk kazakh,sq albanian,sw swahili,gl galician,mr marathi,pa punjabi,si sinhala,km khmer,' +
  'sn shona,yo yoruba,so somali,af afrikaans,oc occitan,ka georgian,be belarusian,tg tajik,' +
  'sd sindhi,gu gujarati,am amharic,yi yiddish,lo lao,uz uzbek,fo faroese,ht haitian creole,' +
  'ps pashto,tk turkmen,nn nynorsk,mt maltese,sa sanskrit,lb luxembourgish,my myanmar,bo tibetan,' +
  'tl tagalog,mg malagasy,as assamese,tt tatar,haw hawaiian,ln lingala,ha hausa,ba bashkir,' +
  'jw javanese,su sundanese,yue cantonese';

export const LANGUAGE_NAMES: Readonly<Record<string, string>> = Object.fromEntries(
  WHISPER_LANGUAGES.split(',').map((entry) => {
    const space = entry.indexOf(' ');
    return [entry.slice(0, space), entry.slice(space + 1)];
  }),
);

/**
 * The English name of a language a model answered or a request named: a code (`en`) becomes its
 * name, a name (`english`) stays as it is; absent, `fallback`.
 */
export function languageName(language: string | null | undefined, fallback: string): string {
  if (!language) return fallback;
  const lower = language.toLowerCase();
  return Object.hasOwn(LANGUAGE_NAMES, lower) ? (LANGUAGE_NAMES[lower] ?? fallback) : lower;
}
