"""The Scrapy side of `pagefeed-bench scrapy`: crawls a list of URLs and
extracts each page's title and entries with the same CSS selectors as the
pagefeed site, the way pagefeed reads them (outermost entries only, text
nodes joined and whitespace collapsed, the first link under the entry made
absolute), and writes one JSON line per page. At the end it writes its own
figures (pages, seconds and CPU seconds of the
process from the first request to the end) to the stats file.

    python spider.py URLS OUT STATS TITLE ENTRY TEXT LINK CONCURRENCY MAX_TEXT_BYTES

TEXT and LINK may be "-" (none).
"""

import json
import resource
import sys
import time

import scrapy
from scrapy.crawler import CrawlerProcess


def normalized(pieces, limit):
    """pagefeed's normalized_text: the pieces joined, runs of whitespace one
    space, none at either end, at most `limit` bytes of whole characters."""
    words = "".join(pieces).split()
    out = ""
    for word in words:
        candidate = word if not out else out + " " + word
        if len(candidate.encode("utf-8")) > limit:
            gap = "" if not out else " "
            for c in word:
                if len((out + gap + c).encode("utf-8")) > limit:
                    return out
                out, gap = out + gap + c, ""
            return out
        out = candidate
    return out


class Pages(scrapy.Spider):
    name = "pages"

    def __init__(self, urls, out, title, entry, text, link, max_text, **kw):
        super().__init__(**kw)
        self.urls = urls
        self.out = out
        self.title_css = title
        self.entry_css = entry
        self.text_css = None if text == "-" else text
        self.link_css = None if link == "-" else link
        self.max_text = max_text
        self.started = None
        self.cpu_started = None

    async def start(self):
        self.started = time.monotonic()
        self.cpu_started = time.process_time()
        for url in self.urls:
            yield scrapy.Request(url, callback=self.parse, dont_filter=True)

    def parse(self, response):
        title = response.css(self.title_css)
        title = normalized(title[0].xpath(".//text()").getall(), 1024) if title else ""
        # Outermost entries only, as pagefeed: an entry inside another is
        # part of the outer one.
        entries = []
        for e in response.css(self.entry_css):
            root = e.root
            parent, nested = root.getparent(), False
            while parent is not None:
                if parent in self.outer:
                    nested = True
                    break
                parent = parent.getparent()
            if nested:
                continue
            self.outer.add(root)
            if self.text_css:
                t = e.css(self.text_css)
                text = normalized(t[0].xpath(".//text()").getall(), self.max_text) if t else ""
            else:
                text = normalized(e.xpath(".//text()").getall(), self.max_text)
            link = None
            if self.link_css:
                for a in e.css(self.link_css):
                    href = a.attrib.get("href")
                    if href is not None:
                        link = response.urljoin(href)
                        break
            entries.append({"text": text, "link": link})
        self.outer.clear()
        self.out.write(json.dumps({"url": response.url, "title": title, "entries": entries}, ensure_ascii=False) + "\n")

    outer = set()


def main():
    urls_file, out_file, stats_file, title, entry, text, link, concurrency, max_text = sys.argv[1:10]
    urls = [u.strip() for u in open(urls_file, encoding="utf-8") if u.strip()]
    concurrency = int(concurrency)
    with open(out_file, "w", encoding="utf-8") as out:
        process = CrawlerProcess(settings={
            "LOG_LEVEL": "WARNING",
            "CONCURRENT_REQUESTS": concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
            "ROBOTSTXT_OBEY": False,
            "COOKIES_ENABLED": False,
            "TELNETCONSOLE_ENABLED": False,
            "RETRY_ENABLED": False,
            "DOWNLOAD_MAXSIZE": 5 * 1024 * 1024,
        })
        crawler = process.create_crawler(Pages)
        process.crawl(crawler, urls=urls, out=out, title=title, entry=entry,
                      text=text, link=link, max_text=int(max_text))
        process.start()
        spider = crawler.spider
        seconds = time.monotonic() - spider.started
        cpu_seconds = time.process_time() - spider.cpu_started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    pages = crawler.stats.get_value("response_received_count", 0)
    with open(stats_file, "w", encoding="utf-8") as f:
        json.dump({"pages": pages, "seconds": seconds,
                   "cpu_seconds": cpu_seconds,
                   "peak_rss_kib": usage.ru_maxrss}, f)


if __name__ == "__main__":
    main()
