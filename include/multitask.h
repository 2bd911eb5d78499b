/*
 * multitask.h - the whole library: processes, pools, futures, queues and the
 * layers that build on them. Include this, or only the layer headers you use.
 */
#ifndef MULTITASK_H
#define MULTITASK_H

#include "multitask/core.h"
#include "multitask/buf.h"
#include "multitask/fn.h"
#include "multitask/future.h"
#include "multitask/results.h"
#include "multitask/process.h"
#include "multitask/pool.h"
#include "multitask/executor.h"
#include "multitask/shared.h"
#include "multitask/progress.h"
#include "multitask/queue.h"
#include "multitask/coro.h"
#include "multitask/aqueue.h"
#include "multitask/http.h"
#include "multitask/trace.h"
#include "multitask/url.h"
#include "multitask/html.h"

#endif
