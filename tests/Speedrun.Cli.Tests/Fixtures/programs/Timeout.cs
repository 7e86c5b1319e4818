// Verdict fixture: sleeps far past any limit the test gives (0.2 minutes) -> timeout.
Console.WriteLine("fixture: sleeping for ten minutes");
Thread.Sleep(TimeSpan.FromMinutes(10));
