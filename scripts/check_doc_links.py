"""Usage: python scripts/check_doc_links.py REPO_ROOT. Every relative link in the docs resolves
(file and #anchor); every repo path in backticks exists."""
import re
import sys
import pathlib
ROOT = pathlib.Path(sys.argv[1])
FUTURE: set[str] = set()   # pages named before they are written (none now)
FILES = [ROOT / "README.md", ROOT / "results/README.md", *sorted((ROOT / "docs").glob("*.md"))]

def slugs(path):
    out, text, fence = set(), path.read_text(), False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        if fence or not line.startswith("#"):
            continue
        h = line.lstrip("#").strip().lower()
        h = re.sub(r"[^\w\- ]", "", h)          # GitHub: drop punctuation (backticks, colons, ...)
        out.add(h.replace(" ", "-"))
    return out

bad = n = npath = 0
for f in FILES:
    text = f.read_text()
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", prose):
        if re.match(r"https?:", target):
            continue
        n += 1
        file, _, anchor = target.partition("#")
        dest = (f.parent / file).resolve() if file else f
        rel = dest.relative_to(ROOT.resolve()).as_posix()
        if rel in FUTURE and not dest.exists():
            continue
        if not dest.exists():
            print(f"{f.relative_to(ROOT)}: missing file {target}")
            bad += 1
        elif anchor and anchor not in slugs(dest):
            print(f"{f.relative_to(ROOT)}: missing anchor {target}")
            bad += 1
    for p in set(re.findall(r"`((?:bench|tests|configs|workloads|traces|results|docs)/[\w./\-]*)`", prose)):
        npath += 1
        if not (ROOT / p).exists():
            print(f"{f.relative_to(ROOT)}: path in backticks does not exist: {p}")
            bad += 1
    # OTel attribute names (bench export-otel), not modules
    span_attributes = {"bench.step", "bench.call_kind", "bench.usage.answer_tokens", "bench.ttfa_ms"}
    for m in set(re.findall(r"`(?:python -m )?(bench(?:\.\w+)+)", prose)) - span_attributes:
        parts, ok = m.split("."), False
        for k in range(len(parts), 1, -1):         # a module, package, or module.attribute
            base = ROOT.joinpath(*parts[:k])
            if base.with_suffix(".py").exists() or (base / "__init__.py").exists():
                ok = True
                break
        npath += 1
        if not ok:
            print(f"{f.relative_to(ROOT)}: module does not exist: {m}")
            bad += 1
print(f"{n} links, {npath} backticked paths checked in {len(FILES)} files; {bad} bad")
sys.exit(1 if bad else 0)
