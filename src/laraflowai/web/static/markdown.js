// A small Markdown subset rendered by building DOM nodes: text only ever
// reaches the page through textContent or text nodes, never as HTML, so
// nothing the model writes (<script>, <img onerror=...>, javascript: links)
// can run. Blocks: paragraphs, headings, fenced code, lists, quotes.
// Inline: `code`, **bold**, *italic*, _italic_, [links](https://...).

const FENCE = /^\s*(```|~~~)/;
const HEADING = /^(#{1,6})\s+(.*)$/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*\d{1,9}[.)]\s+(.*)$/;
const QUOTE = /^\s*>\s?(.*)$/;
const INLINE =
  /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|\*\*(?=\S)([\s\S]*?\S)\*\*|(?<![\p{L}\p{N}_])__(?=\S)([\s\S]*?\S)__(?![\p{L}\p{N}_])|\*(?=[^\s*])([\s\S]*?[^\s*])\*|(?<![\p{L}\p{N}_])_(?=[^\s_])([\s\S]*?[^\s_])_(?![\p{L}\p{N}_])|\[([^\]\n]+)\]\(([^()\s]+)\)/gu;
const SAFE_LINK = /^(https?:\/\/|mailto:)/i;

function el(tag, ...children) {
  const node = document.createElement(tag);
  node.append(...children);
  return node;
}

export function safeHref(url) {
  if (!SAFE_LINK.test(url)) return null;
  try {
    const parsed = new URL(url);
    return ["http:", "https:", "mailto:"].includes(parsed.protocol) ? parsed.href : null;
  } catch {
    return null;
  }
}

export function inline(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    last = match.index + match[0].length;
    const [whole, , code, bold1, bold2, em1, em2, label, url] = match;
    if (code !== undefined) {
      nodes.push(el("code", code));
    } else if (bold1 !== undefined || bold2 !== undefined) {
      nodes.push(el("strong", ...inline(bold1 ?? bold2)));
    } else if (em1 !== undefined || em2 !== undefined) {
      nodes.push(el("em", ...inline(em1 ?? em2)));
    } else {
      const href = safeHref(url);
      if (href === null) {
        nodes.push(document.createTextNode(whole));
      } else {
        const link = el("a", ...inline(label));
        link.href = href;
        link.rel = "noopener noreferrer nofollow";
        link.target = "_blank";
        nodes.push(link);
      }
    }
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

export function blocks(markdown) {
  const lines = markdown.replace(/\r\n?/g, "\n").split("\n");
  const out = [];
  let paragraph = [];
  const flush = () => {
    if (paragraph.length) out.push(el("p", ...inline(paragraph.join("\n"))));
    paragraph = [];
  };
  for (let i = 0; i < lines.length; ) {
    const line = lines[i];
    const fence = line.match(FENCE);
    if (fence) {
      flush();
      const language = line.trim().slice(3).trim();
      const code = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) code.push(lines[i++]);
      i += 1; // the closing fence (absent while the answer is still streaming)
      const codeNode = el("code", code.join("\n"));
      if (/^[\w+-]{1,30}$/.test(language)) codeNode.dataset.language = language;
      out.push(el("pre", codeNode));
      continue;
    }
    const heading = line.match(HEADING);
    if (heading) {
      flush();
      const level = Math.min(heading[1].length + 2, 6);
      out.push(el(`h${level}`, ...inline(heading[2])));
      i += 1;
      continue;
    }
    const listKind = BULLET.test(line) ? "ul" : NUMBERED.test(line) ? "ol" : null;
    if (listKind) {
      flush();
      const pattern = listKind === "ul" ? BULLET : NUMBERED;
      const list = el(listKind);
      while (i < lines.length && pattern.test(lines[i])) {
        list.append(el("li", ...inline(lines[i].match(pattern)[1])));
        i += 1;
      }
      out.push(list);
      continue;
    }
    if (QUOTE.test(line)) {
      flush();
      const quoted = [];
      while (i < lines.length && QUOTE.test(lines[i])) quoted.push(lines[i++].match(QUOTE)[1]);
      out.push(el("blockquote", ...blocks(quoted.join("\n"))));
      continue;
    }
    if (line.trim() === "") flush();
    else paragraph.push(line);
    i += 1;
  }
  flush();
  return out;
}

export function renderMarkdown(markdown, target) {
  target.replaceChildren(...blocks(markdown));
}
