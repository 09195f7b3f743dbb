#pragma once
// SIGUSR1 makes every flight recorder of the process write its dump: "what is this rank doing?"
// without stopping it. A signal handler may do almost nothing, so it writes one byte to a pipe;
// a thread of ours reads the pipe and does the dumping with ordinary code.
//
// The handler is installed when the first recorder registers, and only if SIGUSR1 still has its
// default action: an application's own handler is left alone (and a warning says so).

namespace banyan::observe {

class FlightRecorder;

void registerForSignal(FlightRecorder* recorder);
void unregisterForSignal(FlightRecorder* recorder);

}  // namespace banyan::observe
