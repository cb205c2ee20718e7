package avroserde

// What the tests of package avroserde_test share with the tests of this
// package.
var (
	// RegistryAt returns a Registry, its cache empty, of the registry at a
	// URL.
	RegistryAt = registryAt

	// ErrorClasses returns the classes of decoding errors an error is of.
	ErrorClasses = errorClasses

	// SampleEvent, SampleEnrichedEvent and SampleDelivery are the fast
	// path tests' samples.
	SampleEvent         = sampleEventValue
	SampleEnrichedEvent = sampleEnrichedValue
	SampleDelivery      = sampleDeliveryValue
)
