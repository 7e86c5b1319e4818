namespace Speedrun.Core.Autograd;

/// <summary>Whether differentiable ops record the graph on this thread (thread-local, as in PyTorch).</summary>
public static class GradMode
{
    [ThreadStatic] static int _disabledDepth;

    /// <summary>True unless inside NoGrad().</summary>
    public static bool Enabled => _disabledDepth == 0;

    /// <summary>Within the returned scope no graph is recorded (validation, optimizer steps).</summary>
    public static IDisposable NoGrad() => new Disabled();

    /// <summary>Within the returned scope the graph is recorded again, even inside NoGrad() or a backward pass
    /// (torch.enable_grad): what a recomputing op such as <see cref="F.Checkpoint"/> needs.</summary>
    public static IDisposable Enable() => new Enabled_();

    sealed class Enabled_ : IDisposable
    {
        readonly int _saved;
        bool _done;
        public Enabled_()
        {
            _saved = _disabledDepth;
            _disabledDepth = 0;
        }
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            _disabledDepth = _saved;
        }
    }

    sealed class Disabled : IDisposable
    {
        bool _done;
        public Disabled() => _disabledDepth++;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            _disabledDepth--;
        }
    }
}
