import ArgumentParser

Discern.main()
