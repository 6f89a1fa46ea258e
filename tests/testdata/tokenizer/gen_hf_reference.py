# Generates hf_reference.json beside this file with Hugging Face tokenizers (Rust), the
# library behind Python's fast tokenizers: `pip install tokenizers==0.22.2`, then
# `python3 gen_hf_reference.py`. learned_uncased/ was written by writeTokenizerFiles from
# learnWordPiece(corpus.txt lines, { vocabSize: 400, lowercase: true, minFrequency: 1 }).
# Only needed to refresh the fixture; tests do not run Python.
import json, os
import tokenizers
from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors, AddedToken
from tokenizers.models import WordPiece
base = os.path.dirname(os.path.abspath(__file__)) + "/"
sents = [l for l in open(base + "corpus.txt", encoding="utf-8").read().split("\n") if l] + [
  "Émile Zola est né à Paris en 1840.", "ÉCOLE normale, L'École", "E\u0301cole.",
  "Naïve résumé, coöperate, façade, jalapeño.", "한석규가 서울에 갔다", "서울에서 Émile",
  "東京タワーは東京都港区にある。北京", "Жизнь ☃ snowman 😀 emoji",
  "tabs\tand\nnewlines  and\u200bzero width\u00a0nbsp", "İstanbul ÀÉÎÕÜ àéîõü ßẞ",
  "U.S.A. 1,000.5 Hello-world (brackets) [UNK] [CLS]x", "x" * 120 + " long word", "", "   "]
wp = WordPiece.from_file(base + "bert_uncased/vocab.txt", unk_token="[UNK]")
bert = Tokenizer(wp); bert.normalizer = normalizers.BertNormalizer(lowercase=True)
bert.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
bert.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 101), ("[SEP]", 102)])
bert.add_special_tokens([AddedToken(s, normalized=False, special=True) for s in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]])
toks = {"learned_uncased": Tokenizer.from_file(base + "learned_uncased/tokenizer.json"), "bert_uncased": bert}
def u16(s, i):  # code point index -> UTF-16 index
    return len(s[:i].encode("utf-16-le")) // 2
out = {"generator": f"Hugging Face tokenizers {tokenizers.__version__} (Rust)", "sentences": sents}
for name, tok in toks.items():
    rows = []
    for s in sents:
        e = tok.encode(s)
        offs = [None if t in ("[CLS]", "[SEP]") and i in (0, len(e.ids) - 1) else [u16(s, a), u16(s, b)] for i, (t, (a, b)) in enumerate(zip(e.tokens, e.offsets))]
        rows.append({"ids": e.ids, "offsets": offs})
    out[name] = rows
json.dump(out, open(base + "hf_reference.json", "w", encoding="utf-8"), ensure_ascii=False)
print(len(sents))
