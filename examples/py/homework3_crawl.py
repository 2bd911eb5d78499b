# Homework 3's optional part (作业10, 3, 选做): crawl some pages with aiohttp,
# producers and consumers on an asyncio.Queue run by the event loop. Three
# workers take page addresses off the queue, fetch each page, say what it
# holds, and put the links to the site's other pages back on the queue (each
# address once): every worker consumes and produces. q.join() tells when
# every page found has been crawled; the workers are then cancelled.
#
#   /usr/bin/python3 homework3_crawl.py http://127.0.0.1:PORT/
#
# crawls a site shaped like the lecture's (the one examples/site.c serves).
import asyncio, sys, time
from urllib.parse import urljoin, urldefrag

from lxml import etree
import aiohttp

IMAGES = "//li[@class='list-group-item']//img[@referrerpolicy='no-referrer']/@data-original"

async def worker(session, q, seen, site, counts):
    while True:
        url = await q.get()
        try:
            async with session.get(url) as resp:
                text = await resp.text()
            tree = etree.HTML(text)
            title = tree.xpath('//title/text()')[0]
            images = tree.xpath(IMAGES)
            print('%s: %d images' % (title, len(images)))
            counts[0] += 1
            counts[1] += len(images)
            for href in tree.xpath('//a/@href'):
                link = urldefrag(urljoin(url, href))[0]
                if link.startswith(site) and link not in seen:
                    seen.add(link)
                    await q.put(link)
        finally:
            q.task_done()

async def main(start):
    site = urljoin(start, '/')
    q = asyncio.Queue()
    seen = {start}
    counts = [0, 0]  # pages, images
    await q.put(start)
    t0 = time.time()
    async with aiohttp.ClientSession() as session:
        workers = [asyncio.create_task(worker(session, q, seen, site, counts)) for _ in range(3)]
        await q.join()
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    print('crawled %d pages, %d images in %.2f s' % (counts[0], counts[1], time.time() - t0))

asyncio.run(main(sys.argv[1]))
